"""Fixtures of the data tests: no real network, a private cache folder, fresh in-memory caches."""

from __future__ import annotations

import socket

import pytest

from cnnbook.data import api, download


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch):
    """Any connection to a host other than 127.0.0.1 fails the test: nothing may leave the box."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache folder and empty in-memory caches."""
    monkeypatch.setenv("CNNBOOK_DATA", str(tmp_path / "cache"))
    api._generated.cache_clear()
    api._downloaded.cache_clear()
    download._verified.clear()
    yield
    api._generated.cache_clear()
    api._downloaded.cache_clear()
    download._verified.clear()
