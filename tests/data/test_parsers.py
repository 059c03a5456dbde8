"""IDX and CIFAR-10 readers, on files the tests write themselves."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnbook.data import read_cifar10, read_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_round_trip(dtype, compressed, tmp_path, write_idx):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((4, 3, 5)) * 50).astype(dtype)
    raw = write_idx(array)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    for source in (path, path.read_bytes()):
        out = read_idx(source)
        assert out.dtype == np.dtype(dtype) and out.dtype.isnative
        np.testing.assert_array_equal(out, array)


def test_read_idx_labels_by_hand():
    raw = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 9])  # three uint8 labels: 7 2 9
    np.testing.assert_array_equal(read_idx(raw), [7, 2, 9])


@pytest.mark.parametrize(
    "raw,match",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "type code"),
        (bytes([0, 0, 0x08, 2, 0, 0, 0, 2]), "header truncated"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 4, 1, 2]), "implies 4"),
    ],
)
def test_read_idx_rejects_malformed_files(raw, match):
    with pytest.raises(ValueError, match=match):
        read_idx(raw)


def test_read_cifar10(tmp_path, make_cifar_archive):
    archive = tmp_path / "cifar-10-python.tar.gz"
    batches = make_cifar_archive(archive)
    images, labels = read_cifar10(archive, "train")
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8 and labels.dtype == np.int64
    data, batch_labels = batches["data_batch_2"]
    # Image 1 of batch 2 is image 3 + 1 = 4 of the split; pixel (channel 2, row 5, col 7).
    assert images[4, 2, 5, 7] == data[1, 2 * 1024 + 5 * 32 + 7]
    assert labels[4] == batch_labels[1]
    test_images, test_labels = read_cifar10(archive, "test")
    np.testing.assert_array_equal(test_images.reshape(3, -1), batches["test_batch"][0])
    np.testing.assert_array_equal(test_labels, batches["test_batch"][1])
    with pytest.raises(ValueError, match="split"):
        read_cifar10(archive, "valid")
