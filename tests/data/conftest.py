"""Fixtures of the data tests: no real network, a private cache folder, fresh in-memory caches."""

from __future__ import annotations

import io
import pickle
import socket
import struct
import tarfile

import numpy as np
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


IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def write_idx(array: np.ndarray) -> bytes:
    """IDX bytes written from the format's description: 0, 0, type code, ndim, big-endian sizes,
    then big-endian data."""
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def make_cifar_archive(path, per_batch: int = 3, seed: int = 0):
    """A miniature cifar-10-python.tar.gz in the published layout: pickled dicts with b"data"
    (N x 3072 uint8, channel planes of 32 x 32 in row-major order) and b"labels"."""
    rng = np.random.default_rng(seed)
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
            if name == "batches.meta":
                content = {b"label_names": [b"airplane"] * 10}
            else:
                data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
                labels = rng.integers(0, 10, size=per_batch).tolist()
                content = {b"data": data, b"labels": labels, b"batch_label": name.encode()}
                batches[name] = (data, labels)
            blob = pickle.dumps(content)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches


@pytest.fixture(name="write_idx")
def _write_idx_fixture():
    return write_idx


@pytest.fixture(name="make_cifar_archive")
def _make_cifar_archive_fixture():
    return make_cifar_archive
