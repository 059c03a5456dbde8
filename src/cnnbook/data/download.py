"""Download registry files with mirrors, checksums, and atomic writes into the cache folder.

A file is streamed to a temporary name beside its final place, hashed on the way, and renamed
only when its size and checksum are right; otherwise the temporary file is removed and the next
mirror is tried. Nothing half-written ever stays in the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cnnbook.data.cache import atomic_path, data_home, offline
from cnnbook.data.registry import REGISTRY, RemoteDataset, RemoteFile

__all__ = ["DatasetUnavailable", "fetch", "file_digest"]

_CHUNK = 1 << 20


class DatasetUnavailable(RuntimeError):
    """A dataset could not be obtained (offline, network error, or bad checksum on every mirror)."""


class _BadDownload(Exception):
    """A mirror answered, but with the wrong bytes (truncated file, wrong checksum)."""


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest (``"sha256"`` or ``"md5"``) of a file, read in chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            hasher.update(block)
    return hasher.hexdigest()


def fetch(
    name: str, root: str | os.PathLike[str] | None = None, *, timeout: float = 30.0
) -> dict[str, Path]:
    """Make sure every file of a registry dataset is in the cache, and return their paths.

    Cached files are checked against their checksum first (a corrupt one is fetched again).

    Args:
        name: a key of :data:`cnnbook.data.registry.REGISTRY` (``"mnist"``, ...).
        root: cache folder (default: :func:`cnnbook.data.cache.data_home`).
        timeout: seconds to wait for a mirror before trying the next one.

    Returns:
        Paths of the verified files, keyed like the registry entry's ``files``.

    Raises:
        ValueError: if ``name`` is not in the registry.
        DatasetUnavailable: when a file is missing and ``CNNBOOK_OFFLINE`` is set, or when every
            mirror failed (network error, truncated file, wrong checksum).
    """
    if name not in REGISTRY:
        raise ValueError(f"name: expected one of {sorted(REGISTRY)}, got {name!r}")
    spec = REGISTRY[name]
    folder = data_home(root) / name
    return {
        key: _fetch_file(name, spec, remote, folder, timeout) for key, remote in spec.files.items()
    }


def _fetch_file(
    name: str, spec: RemoteDataset, remote: RemoteFile, folder: Path, timeout: float
) -> Path:
    final = folder / remote.filename
    if final.is_file():
        if _matches(final, remote):
            return final
        final.unlink()  # a corrupt cache entry (edited or damaged): fetch it again
    if offline():
        raise DatasetUnavailable(
            _message(name, spec, remote, "CNNBOOK_OFFLINE is set, so nothing is downloaded")
        )
    failures = []
    for base in spec.mirrors:
        url = base + remote.filename
        print(f"cnnbook.data: downloading {url}", file=sys.stderr)
        try:
            with atomic_path(final) as tmp:
                _download(url, tmp, remote, timeout)
            return final
        except (OSError, http.client.HTTPException, _BadDownload) as error:
            # OSError covers URLError, timeouts and refused connections.
            failures.append(f"{url}: {error}")
    raise DatasetUnavailable(_message(name, spec, remote, "every mirror failed", failures))


def _download(url: str, target: Path, remote: RemoteFile, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "cnnbook"})
    hasher = hashlib.new(remote.algorithm)
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        announced = response.headers.get("Content-Length")
        for block in iter(lambda: response.read(_CHUNK), b""):
            out.write(block)
            hasher.update(block)
            received += len(block)
    if announced is not None and received != int(announced):
        raise _BadDownload(f"truncated: received {received} of {announced} bytes")
    if remote.size is not None and received != remote.size:
        raise _BadDownload(f"wrong size: received {received} bytes, expected {remote.size}")
    digest = hasher.hexdigest()
    if digest != remote.digest:
        raise _BadDownload(f"{remote.algorithm} mismatch: got {digest}, expected {remote.digest}")


_verified: set[tuple[str, int, int]] = set()


def _matches(path: Path, remote: RemoteFile) -> bool:
    """Size and checksum of a cached file are right (remembered per path, size and mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return True
    if remote.size is not None and stat.st_size != remote.size:
        return False
    if file_digest(path, remote.algorithm) != remote.digest:
        return False
    _verified.add(key)
    return True


def _message(
    name: str, spec: RemoteDataset, remote: RemoteFile, reason: str, failures: list[str] = ()
) -> str:
    lines = [f"dataset {name!r} is unavailable: {remote.filename}: {reason}."]
    lines += [f"  tried {failure}" for failure in failures]
    alternative = spec.offline_alternative
    lines.append(
        f"Offline alternative: cnnbook.data.load({alternative!r}), generated locally without a "
        f"network; or cnnbook.data.load_or_fallback({name!r}, fallback={alternative!r})."
    )
    return "\n".join(lines)
