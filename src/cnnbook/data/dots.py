"""Images of one or two small dots, for the pooling and translation-equivariance demos.

``make_dots`` draws dots exactly where you ask (handy for "near dots merge after pooling, far dots
stay apart"); ``make_dots_dataset`` draws a random, balanced one-dot/two-dots dataset and returns
the dot positions too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["make_dots", "make_dots_dataset"]


def make_dots(
    positions: Sequence[tuple[float, float]], size: int | tuple[int, int] = 28, radius: float = 1.0
) -> np.ndarray:
    """One image with an anti-aliased dot at each (row, col) position, ready for a conv or pool.

    A pixel's value is ``clip(radius + 0.5 - d, 0, 1)`` with ``d`` its distance to the nearest dot
    centre, so at integer positions ``radius=0.5`` lights exactly one pixel.

    Args:
        positions: dot centres as (row, col) in pixels; may be empty (a black image).
        size: image side, or (height, width).
        radius: dot radius in pixels (> 0).

    Returns:
        float32 array in [0, 1].

    Shape:
        ``(1, 1, H, W)`` (NCHW with one image and one channel).

    Example:
        >>> make_dots([(10, 10), (10, 13)], size=16).shape
        (1, 1, 16, 16)
    """
    height, width = _pair(size)
    centres = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(centres)):
        raise ValueError(f"positions: expected finite (row, col) pairs, got {positions!r}")
    if radius <= 0:
        raise ValueError(f"radius: expected a positive number of pixels, got {radius}")
    return _render(centres[None], height, width, radius)


def make_dots_dataset(
    n: int,
    size: int = 28,
    radius: float = 1.0,
    min_distance: float = 4.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random dataset of images with one or two dots (balanced), and where the dots are.

    Args:
        n: number of images.
        size: image side in pixels.
        radius: dot radius in pixels.
        min_distance: smallest distance between the two dots of an image, in pixels.
        seed: seed of the random stream.

    Returns:
        ``(X, y, positions)``: float32 images in [0, 1]; labels ``y = number of dots - 1``
        (int64); dot centres as (row, col), with NaN for the absent second dot.

    Shape:
        X: ``(n, 1, size, size)``; y: ``(n,)``; positions: ``(n, 2, 2)``.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if radius <= 0:
        raise ValueError(f"radius: expected a positive number of pixels, got {radius}")
    margin = radius + 0.5
    if size - 1 - 2 * margin <= min_distance:
        raise ValueError(
            f"size: {size} pixels leave no room for two dots {min_distance} apart with radius "
            f"{radius}; expected a larger size or a smaller min_distance"
        )
    rng = np.random.default_rng([int(seed), 3])
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    positions = rng.uniform(margin, size - 1 - margin, size=(n, 2, 2))
    # Redraw second dots that fell too close to the first (a few rounds of rejection sampling).
    while True:
        close = np.linalg.norm(positions[:, 1] - positions[:, 0], axis=-1) < min_distance
        if not close.any():
            break
        positions[close, 1] = rng.uniform(margin, size - 1 - margin, size=(int(close.sum()), 2))
    positions[y == 0, 1] = np.nan
    X = np.concatenate(
        [_render(positions[i : i + 1024], size, size, radius) for i in range(0, n, 1024)]
    )
    return X, y, positions


def _render(centres: np.ndarray, height: int, width: int, radius: float) -> np.ndarray:
    """Images ``(B, 1, H, W)`` of dots at ``centres`` ``(B, K, 2)``; NaN centres draw nothing."""
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    d_row = rows[None, None] - centres[:, :, 0, None, None]
    d_col = cols[None, None] - centres[:, :, 1, None, None]
    distance = np.sqrt(d_row**2 + d_col**2)
    value = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    value = np.nan_to_num(value, nan=0.0)
    image = value.max(axis=1, initial=0.0)
    return image[:, None].astype(np.float32)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in pair):
        raise ValueError(f"size: expected a positive int or a (height, width) pair, got {size!r}")
    return int(pair[0]), int(pair[1])
