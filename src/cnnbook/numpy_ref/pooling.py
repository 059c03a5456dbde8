"""Max, average and global average pooling with their backward passes (assignment 04).

Windows are visited with one strided view per kernel offset (kH*kW views of shape
(N, C, H_out, W_out)), so there is no Python loop over images or positions and no window copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import as_pair, check_float_array, check_nchw, check_shape

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
]

IntOrPair = int | tuple[int, int]


@dataclass(frozen=True)
class _PoolCache:
    kind: str
    x: np.ndarray | None  # only max pooling needs the input back
    out: np.ndarray | None
    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    kernel_size: tuple[int, int]
    stride: tuple[int, int]


def _check_pool_args(
    x: np.ndarray, kernel_size: IntOrPair, stride: IntOrPair | None
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    x = check_nchw(x, "x")
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    sh, sw = (kh, kw) if stride is None else as_pair(stride, "stride", 1)
    h, w = x.shape[2:]
    if kh > h or kw > w:
        raise ValueError(
            f"kernel_size: a window of ({kh}, {kw}) does not fit in an input of spatial size "
            f"({h}, {w}); expected kernel_size <= (H, W)"
        )
    return (kh, kw), (sh, sw), ((h - kh) // sh + 1, (w - kw) // sw + 1)


def _offset_view(a: np.ndarray, i: int, j: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """a[n, c, y*sH + i, x*sW + j] for every output position (y, x): a strided view."""
    return a[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]


def _check_backward(dout: np.ndarray, cache: object, kind: str) -> _PoolCache:
    if not isinstance(cache, _PoolCache) or cache.kind != kind:
        raise ValueError(
            f"cache: expected the cache returned by {kind}_forward, got {type(cache).__name__}"
        )
    dout = check_nchw(dout, "dout")
    if dout.dtype != cache.dtype:
        raise ValueError(f"dout: dtype {dout.dtype} does not match x's dtype {cache.dtype}")
    (kh, kw), (sh, sw) = cache.kernel_size, cache.stride
    n, c, h, w = cache.x_shape
    expected = (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)
    check_shape(dout, "dout", expected, "the shape of the forward output")
    return cache


def max_pool2d_forward(
    x: np.ndarray, kernel_size: IntOrPair, stride: IntOrPair | None = None
) -> tuple[np.ndarray, _PoolCache]:
    """Max pooling: the largest value of each window, per channel.

    Args:
        x: (N, C, H, W), float32 or float64.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW); None means stride = kernel_size. Windows overlap when the
            stride is smaller than the kernel.

    Returns:
        ``(out, cache)``.

    Shape:
        out: (N, C, H_out, W_out) with H_out = floor((H - kH) / sH) + 1 and
        W_out = floor((W - kW) / sW) + 1 (no padding).

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> max_pool2d_forward(x, 2)[0][0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """
    (kh, kw), (sh, sw), (ho, wo) = _check_pool_args(x, kernel_size, stride)
    out = _offset_view(x, 0, 0, sh, sw, ho, wo).copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, _offset_view(x, i, j, sh, sw, ho, wo), out=out)
    # The cache holds x itself (no copy): modify x in place only after the backward pass.
    return out, _PoolCache("max_pool2d", x, out, x.shape, x.dtype, (kh, kw), (sh, sw))


def max_pool2d_backward(dout: np.ndarray, cache: _PoolCache) -> np.ndarray:
    """Route each window's gradient to its arg-max only; overlapping windows accumulate.

    When a window holds several equal maxima, the first one in row-major order gets the
    gradient, as in PyTorch.

    Args:
        dout: (N, C, H_out, W_out).
        cache: from :func:`max_pool2d_forward`.

    Returns:
        dx, zero everywhere except at window maxima.

    Shape:
        dx: (N, C, H, W), the shape of x.

    Example:
        >>> out, cache = max_pool2d_forward(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), 2)
        >>> max_pool2d_backward(np.ones_like(out), cache)[0, 0]
        array([[0., 1.],
               [0., 0.]])
    """
    cache = _check_backward(dout, cache, "max_pool2d")
    (kh, kw), (sh, sw) = cache.kernel_size, cache.stride
    ho, wo = dout.shape[2:]
    x, out = cache.x, cache.out
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    # Visit offsets in row-major order; `taken` marks windows whose arg-max was already found.
    taken = np.zeros(out.shape, dtype=bool)
    for i in range(kh):
        for j in range(kw):
            hit = _offset_view(x, i, j, sh, sw, ho, wo) == out
            hit &= ~taken
            taken |= hit
            _offset_view(dx, i, j, sh, sw, ho, wo)[...] += dout * hit
    return dx


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: IntOrPair, stride: IntOrPair | None = None
) -> tuple[np.ndarray, _PoolCache]:
    """Average pooling: the mean of each window, per channel.

    Args:
        x: (N, C, H, W), float32 or float64.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW); None means stride = kernel_size.

    Returns:
        ``(out, cache)``.

    Shape:
        out: (N, C, H_out, W_out) with H_out = floor((H - kH) / sH) + 1 and
        W_out = floor((W - kW) / sW) + 1 (no padding).

    Example:
        >>> avg_pool2d_forward(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0][0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
    """
    (kh, kw), (sh, sw), (ho, wo) = _check_pool_args(x, kernel_size, stride)
    out = _offset_view(x, 0, 0, sh, sw, ho, wo).copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += _offset_view(x, i, j, sh, sw, ho, wo)
    out *= 1.0 / (kh * kw)
    return out, _PoolCache("avg_pool2d", None, None, x.shape, x.dtype, (kh, kw), (sh, sw))


def avg_pool2d_backward(dout: np.ndarray, cache: _PoolCache) -> np.ndarray:
    """Spread each window's gradient evenly over its kH*kW inputs; overlaps accumulate.

    Args:
        dout: (N, C, H_out, W_out).
        cache: from :func:`avg_pool2d_forward`.

    Returns:
        dx, each input's share of the gradients of the windows it belongs to.

    Shape:
        dx: (N, C, H, W), the shape of x.

    Example:
        >>> out, cache = avg_pool2d_forward(np.zeros((1, 1, 2, 2)), 2)
        >>> avg_pool2d_backward(np.ones_like(out), cache)[0, 0]
        array([[0.25, 0.25],
               [0.25, 0.25]])
    """
    cache = _check_backward(dout, cache, "avg_pool2d")
    (kh, kw), (sh, sw) = cache.kernel_size, cache.stride
    ho, wo = dout.shape[2:]
    share = dout * (1.0 / (kh * kw))
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for i in range(kh):
        for j in range(kw):
            _offset_view(dx, i, j, sh, sw, ho, wo)[...] += share
    return dx


def global_avg_pool2d(x: np.ndarray) -> np.ndarray:
    """Mean over all spatial positions of each channel.

    Args:
        x: (N, C, H, W), float32 or float64.

    Returns:
        An (N, C) array (no cache: the backward pass only needs ``x.shape``, see
        :func:`global_avg_pool2d_backward`).

    Shape:
        (N, C, H, W) -> (N, C)

    Example:
        >>> global_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2))
        array([[1.5, 5.5]])
    """
    x = check_nchw(x, "x")
    n, c = x.shape[:2]
    # Reducing the contiguous last axis of an (N, C, H*W) view is faster than axis=(2, 3).
    return x.reshape(n, c, -1).mean(axis=2)


def global_avg_pool2d_backward(dout: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """Gradient of :func:`global_avg_pool2d`: each position gets ``dout / (H*W)``.

    Args:
        dout: (N, C), upstream gradient.
        x_shape: the shape (N, C, H, W) of the forward input.

    Returns:
        dx, a new writable array.

    Shape:
        (N, C) -> (N, C, H, W)

    Example:
        >>> global_avg_pool2d_backward(np.array([[4.0]]), (1, 1, 2, 2))[0, 0]
        array([[1., 1.],
               [1., 1.]])
    """
    if (
        not isinstance(x_shape, (tuple, list))
        or len(x_shape) != 4
        or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in x_shape)
    ):
        raise ValueError(f"x_shape: expected the 4-D shape (N, C, H, W) of x, got {x_shape!r}")
    n, c, h, w = (int(s) for s in x_shape)
    dout = check_float_array(dout, "dout", ndim=2)
    check_shape(dout, "dout", (n, c), "(N, C) of the forward output")
    dx = np.empty((n, c, h, w), dtype=dout.dtype)
    dx[...] = (dout * (1.0 / (h * w)))[:, :, None, None]
    return dx
