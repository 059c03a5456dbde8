"""Readers of the raw dataset formats, with NumPy only: IDX (MNIST family) and CIFAR-10 batches."""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "read_cifar10"]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(source: str | os.PathLike[str] | bytes) -> np.ndarray:
    """Parse an IDX file (as used by MNIST), gzip-compressed or not.

    Args:
        source: a path (``.gz`` or plain) or the file's bytes.

    Returns:
        The array, in native byte order, with the shape stored in the header.

    Raises:
        ValueError: if the header is malformed or the data size does not match the header.
    """
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"source: not an IDX file (magic bytes {raw[:4]!r}, expected 00 00 tt nd)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"source: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"source: IDX header truncated ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"source: IDX data has {len(raw) - header} bytes, header {shape} implies {expected}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_cifar10(archive: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of CIFAR-10 from the python-version archive ``cifar-10-python.tar.gz``.

    The batches are Python pickles, and unpickling can run code: call this only on an archive whose
    checksum was verified (:func:`cnnbook.data.download.fetch` does so).

    Args:
        archive: path of the ``.tar.gz``.
        split: ``"train"`` (data_batch_1..5) or ``"test"`` (test_batch).

    Returns:
        ``(images, labels)``: uint8 images and int64 labels.

    Shape:
        images: ``(N, 3, 32, 32)``; labels: ``(N,)``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for name in names:
            if name not in members:
                raise ValueError(f"archive: {name} is missing from {archive}")
            batch = pickle.load(tar.extractfile(members[name]), encoding="bytes")  # noqa: S301
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(
                    f"archive: {name} holds data of shape {data.shape}, expected (N, 3072)"
                )
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)
