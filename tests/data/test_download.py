"""Downloads against a local HTTP server on 127.0.0.1: success, caching, mirrors, bad checksums,
truncated files, refused connections, offline mode. The registry is monkeypatched; nothing may
reach the real network (see conftest)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnbook import data
from cnnbook.data import api, registry
from cnnbook.data.registry import RemoteDataset, RemoteFile


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; paths under /truncated/ announce the full length but send half."""

    requests: list[str]

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        if self.path.startswith("/truncated/"):
            body = (Path(self.directory) / "good" / Path(self.path).name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local web server with /good/ (right files), /bad/ (same names, other bytes), and
    /truncated/; yields (base_url, list_of_requested_paths)."""
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root))
    )
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, httpd.requests
    httpd.shutdown()
    httpd.server_close()


def _refused_url() -> str:
    """A local port with nobody listening: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _fake_mnist(root: Path, write_idx):
    """Write a tiny MNIST in IDX .gz form under root/good (and corrupt twins under root/bad)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 6, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 4, dtype=np.uint8),
    }
    names = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    files = {}
    for key, array in arrays.items():
        blob = gzip.compress(write_idx(array))
        (root / "good" / names[key]).write_bytes(blob)
        (root / "bad" / names[key]).write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
        files[key] = RemoteFile(names[key], "sha256", hashlib.sha256(blob).hexdigest(), len(blob))
    return arrays, files


def _use_mirrors(monkeypatch, files, mirrors, name="mnist", alternative="glyph-digits"):
    monkeypatch.setitem(registry.REGISTRY, name, RemoteDataset(tuple(mirrors), files, alternative))


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("CNNBOOK_OFFLINE", raising=False)


def _cache_files(tmp_path) -> list[str]:
    folder = tmp_path / "cache"
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_success_and_caching(server, online, monkeypatch, tmp_path, write_idx):
    base, root, requests = server
    arrays, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/good/"])
    X, y = data.load("mnist", "train")
    assert X.shape == (6, 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0], arrays["train_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, arrays["train_labels"])
    assert len(requests) == 4
    assert _cache_files(tmp_path) == sorted(f.filename for f in files.values())
    # A second load, even from a fresh process state, reads the cache: no new request.
    api._downloaded.cache_clear()
    Xt, yt = data.load("mnist", "test", as_tensor=True)
    assert tuple(Xt.shape) == (4, 1, 28, 28)
    assert len(requests) == 4


def test_first_mirror_failing_then_second_succeeds(
    server, online, monkeypatch, tmp_path, write_idx
):
    base, root, requests = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [_refused_url(), f"{base}/missing/", f"{base}/good/"])
    X, _ = data.load("mnist", "test")
    assert X.shape == (4, 1, 28, 28)
    assert any(r.startswith("/missing/") for r in requests)  # the 404 mirror was tried
    assert _cache_files(tmp_path) == sorted(f.filename for f in files.values())


def test_bad_checksum_raises_and_caches_nothing(server, online, monkeypatch, tmp_path, write_idx):
    base, root, _ = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/bad/"])
    with pytest.raises(data.DatasetUnavailable, match="sha256 mismatch") as error:
        data.load("mnist", "train")
    assert "glyph-digits" in str(error.value)  # names the offline alternative
    assert isinstance(error.value, RuntimeError)
    assert _cache_files(tmp_path) == []


def test_truncated_download_raises_and_caches_nothing(
    server, online, monkeypatch, tmp_path, write_idx
):
    base, root, _ = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/truncated/"])
    with pytest.raises(data.DatasetUnavailable, match="truncated|IncompleteRead|wrong size"):
        data.load("mnist", "train")
    assert _cache_files(tmp_path) == []
    # The same files from a good mirror after the truncated one: success.
    _use_mirrors(monkeypatch, files, [f"{base}/truncated/", f"{base}/good/"])
    assert data.load("mnist", "train")[0].shape == (6, 1, 28, 28)


def test_connection_refused_names_the_offline_alternative(online, monkeypatch, tmp_path, write_idx):
    _, files = _fake_mnist(_make_dirs(tmp_path), write_idx)
    _use_mirrors(monkeypatch, files, [_refused_url()])
    with pytest.raises(data.DatasetUnavailable) as error:
        data.load("mnist", "train")
    message = str(error.value)
    assert "every mirror failed" in message and "load('glyph-digits')" in message
    assert _cache_files(tmp_path) == []


def test_offline_mode_never_connects(server, monkeypatch, tmp_path, write_idx):
    base, root, requests = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/good/"])
    monkeypatch.setenv("CNNBOOK_OFFLINE", "1")
    with pytest.raises(data.DatasetUnavailable, match="CNNBOOK_OFFLINE") as error:
        data.load("mnist", "train")
    assert "glyph-digits" in str(error.value)
    assert requests == []
    assert _cache_files(tmp_path) == []


def test_offline_mode_still_reads_a_verified_cache(server, online, monkeypatch, write_idx):
    base, root, requests = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/good/"])
    data.load("mnist", "train")
    api._downloaded.cache_clear()
    monkeypatch.setenv("CNNBOOK_OFFLINE", "1")
    assert data.load("mnist", "train")[0].shape == (6, 1, 28, 28)


def test_a_corrupt_cached_file_is_fetched_again(server, online, monkeypatch, tmp_path, write_idx):
    base, root, requests = server
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/good/"])
    data.load("mnist", "train")
    cached = tmp_path / "cache" / "mnist" / files["train_labels"].filename
    cached.write_bytes(b"garbage")
    api._downloaded.cache_clear()
    data.load("mnist", "train")
    assert requests.count("/good/" + files["train_labels"].filename) == 2
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == files["train_labels"].digest


def test_load_or_fallback(server, online, monkeypatch, capsys, write_idx):
    base, root, _ = server
    monkeypatch.setattr(api, "_announced", set())
    _, files = _fake_mnist(root, write_idx)
    _use_mirrors(monkeypatch, files, [f"{base}/bad/"])
    with pytest.warns(data.DatasetFallbackWarning, match="every mirror failed"):
        X, y, used = data.load_or_fallback("mnist", fallback="glyph-digits", n=20)
    assert used == "glyph-digits" and X.shape == (20, 1, 28, 28)
    out = capsys.readouterr().out
    assert out == (
        "MNIST could not be downloaded here, so this uses glyph-digits, a dataset generated "
        "offline, instead.\n"
    )
    _use_mirrors(monkeypatch, files, [f"{base}/good/"])
    X, y, used = data.load_or_fallback("mnist", fallback="glyph-digits", n=3, seed=1)
    assert used == "mnist" and X.shape == (3, 1, 28, 28)
    assert capsys.readouterr().out == "Using MNIST.\n"


def test_load_or_fallback_tells_the_reader_once_and_keeps_internals_off_stdout(
    monkeypatch, tmp_path, capsys
):
    # What a chapter's page shows when it loads both splits offline: one plain sentence. The
    # technical reason (the CNNBOOK_OFFLINE variable) is in the warning, on stderr, not on stdout.
    monkeypatch.setattr(api, "_announced", set())
    monkeypatch.setenv("CNNBOOK_OFFLINE", "1")
    monkeypatch.setenv("CNNBOOK_DATA", str(tmp_path / "empty"))
    with pytest.warns(data.DatasetFallbackWarning) as caught:
        for split in ("train", "test"):
            X, _, used = data.load_or_fallback("mnist", "stroke-digits", split, n=4, seed=0)
            assert used == "stroke-digits" and X.shape == (4, 1, 28, 28)
    assert len(caught) == 2 and all("CNNBOOK_OFFLINE" in str(w.message) for w in caught)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "MNIST could not be downloaded here" in out
    assert "CNNBOOK" not in out and "===" not in out


def test_cifar10_download_and_parse(server, online, monkeypatch, tmp_path, make_cifar_archive):
    base, root, _ = server
    archive = root / "good" / "cifar-10-python.tar.gz"
    make_cifar_archive(archive, per_batch=2)
    blob = archive.read_bytes()
    files = {"archive": RemoteFile(archive.name, "md5", hashlib.md5(blob).hexdigest(), len(blob))}
    _use_mirrors(monkeypatch, files, [f"{base}/good/"], name="cifar10")
    X, y = data.load("cifar10", "train")
    assert X.shape == (10, 3, 32, 32) and X.dtype == np.float32 and 0 <= X.min() <= X.max() <= 1
    X, y = data.load("cifar10", "test", n=1)
    assert X.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="n: cifar10 test has 2"):
        data.load("cifar10", "test", n=5)


def test_real_registry_is_well_formed():
    lengths = {"sha256": 64, "md5": 32}
    for name, spec in registry.REGISTRY.items():
        assert spec.mirrors and all(m.startswith(("https://", "http://")) for m in spec.mirrors)
        assert spec.offline_alternative in data.DATASETS
        for remote in spec.files.values():
            assert len(remote.digest) == lengths[remote.algorithm], (name, remote.filename)
            int(remote.digest, 16)  # hexadecimal
            # The shipped table uses the stronger hash and knows every size (a truncated
            # download is caught before it is hashed).
            assert remote.algorithm == "sha256" and remote.size, (name, remote.filename)
    assert len(registry.REGISTRY["mnist"].mirrors) >= 2
    assert len(registry.REGISTRY["fashion-mnist"].mirrors) >= 2


def _make_dirs(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    return root
