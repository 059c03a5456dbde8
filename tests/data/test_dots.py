"""Dot images: hand-worked pixel values, translation behaviour, the random dataset."""

from __future__ import annotations

import numpy as np
import pytest

from cnnbook import data


def test_single_pixel_dot():
    img = data.make_dots([(4, 6)], size=10, radius=0.5)
    assert img.shape == (1, 1, 10, 10) and img.dtype == np.float32
    expected = np.zeros((10, 10), dtype=np.float32)
    expected[4, 6] = 1.0
    np.testing.assert_array_equal(img[0, 0], expected)


def test_radius_one_dot_by_hand():
    img = data.make_dots([(5, 5)], size=11, radius=1.0)[0, 0]
    assert img[5, 5] == 1.0
    for r, c in [(4, 5), (6, 5), (5, 4), (5, 6)]:
        assert img[r, c] == pytest.approx(0.5)
    assert img[4, 4] == pytest.approx(1.5 - np.sqrt(2))
    assert img[3, 5] == 0.0
    assert img.sum() == pytest.approx(1 + 4 * 0.5 + 4 * (1.5 - np.sqrt(2)), rel=1e-6)


def test_moving_a_dot_moves_the_image():
    a = data.make_dots([(8, 5), (12, 9)], size=(20, 24), radius=1.5)
    b = data.make_dots([(8, 9), (12, 13)], size=(20, 24), radius=1.5)
    np.testing.assert_allclose(np.roll(a, 4, axis=-1), b, atol=1e-6)


def test_empty_positions_give_a_black_image():
    assert data.make_dots([], size=6).sum() == 0.0


def test_dots_dataset():
    X, y, positions = data.make_dots_dataset(200, size=20, radius=1.0, min_distance=5.0, seed=2)
    assert X.shape == (200, 1, 20, 20) and y.shape == (200,) and positions.shape == (200, 2, 2)
    assert np.bincount(y).tolist() == [100, 100]
    np.testing.assert_array_equal(np.isnan(positions[:, 1, 0]), y == 0)
    assert not np.isnan(positions[:, 0]).any()
    two = positions[y == 1]
    assert (np.linalg.norm(two[:, 0] - two[:, 1], axis=-1) >= 5.0).all()
    # Each image equals make_dots at its recorded positions.
    for i in (0, 1, 2, 3):
        centres = positions[i][~np.isnan(positions[i, :, 0])]
        np.testing.assert_allclose(X[i : i + 1], data.make_dots(centres, size=20), atol=1e-6)


def test_dots_bad_input():
    with pytest.raises(ValueError, match="radius"):
        data.make_dots([(1, 1)], radius=0)
    with pytest.raises(ValueError, match="size"):
        data.make_dots([(1, 1)], size=(3, 0))
    with pytest.raises(ValueError, match="positions"):
        data.make_dots([(1, np.nan)])
    with pytest.raises(ValueError, match="size"):
        data.make_dots_dataset(10, size=6, min_distance=5)
