"""Fully connected layer and flatten (the classifier head of the reference CNN)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_float_array, check_same_dtype, check_shape

__all__ = ["linear_forward", "linear_backward", "flatten", "flatten_backward"]


@dataclass(frozen=True)
class _LinearCache:
    x: np.ndarray
    w: np.ndarray
    has_bias: bool


def linear_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, _LinearCache]:
    """Affine map ``x @ w.T + b``, as ``torch.nn.functional.linear``.

    Args:
        x: (N, in_features), float32 or float64.
        w: (out_features, in_features), PyTorch's layout.
        b: (out_features,), or None for no bias.

    Returns:
        ``(out, cache)``.

    Shape:
        out: (N, out_features).

    Example:
        >>> linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))[0].shape
        (2, 4)
    """
    x = check_float_array(x, "x", ndim=2)
    w = check_float_array(w, "w", ndim=2)
    check_same_dtype(w, "w", x, "x")
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w: expected in_features = {x.shape[1]} columns (x has shape {x.shape}), got w of "
            f"shape {w.shape}; w is (out_features, in_features) as in PyTorch"
        )
    if b is not None:
        b = check_float_array(b, "b")
        check_same_dtype(b, "b", x, "x")
        check_shape(b, "b", (w.shape[0],), "one bias per output feature")
    out = x @ w.T
    if b is not None:
        out += b
    # The cache holds x and w themselves: modify them in place only after the backward pass.
    return out, _LinearCache(x, w, b is not None)


def linear_backward(
    dout: np.ndarray, cache: _LinearCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear_forward`.

    Args:
        dout: (N, out_features).
        cache: from :func:`linear_forward`.

    Returns:
        ``(dx, dw, db)``: ``dout @ w``, ``dout.T @ x``, ``dout.sum(0)``.

    Shape:
        dx: (N, in_features); dw: (out_features, in_features); db: (out_features,).

    Example:
        >>> out, cache = linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
        >>> [g.shape for g in linear_backward(np.ones_like(out), cache)]
        [(2, 3), (4, 3), (4,)]
    """
    if not isinstance(cache, _LinearCache):
        raise ValueError(
            f"cache: expected the cache returned by linear_forward, got {type(cache).__name__}"
        )
    x, w = cache.x, cache.w
    dout = check_float_array(dout, "dout", ndim=2)
    check_same_dtype(dout, "dout", x, "x")
    check_shape(dout, "dout", (x.shape[0], w.shape[0]), "the shape of the forward output")
    return dout @ w, dout.T @ x, dout.sum(axis=0)


def flatten(x: np.ndarray) -> np.ndarray:
    """Flatten every axis but the first, as ``torch.flatten(x, 1)``.

    Args:
        x: (N, ...) with at least 2 axes, float32 or float64.

    Returns:
        A new (N, prod(rest)) array (no cache: :func:`flatten_backward` needs only ``x.shape``).

    Shape:
        (N, C, H, W) -> (N, C*H*W)

    Example:
        >>> flatten(np.zeros((2, 64, 7, 7))).shape
        (2, 3136)
    """
    x = check_float_array(x, "x", min_ndim=2)
    return x.reshape(x.shape[0], -1).copy()


def flatten_backward(dout: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """Gradient of :func:`flatten`: ``dout`` reshaped back to the input's shape.

    Args:
        dout: (N, prod(rest)).
        x_shape: the shape of the forward input.

    Returns:
        dx, a new array.

    Shape:
        (N, prod(rest)) -> x_shape

    Example:
        >>> flatten_backward(np.zeros((2, 12)), (2, 3, 2, 2)).shape
        (2, 3, 2, 2)
    """
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) < 2:
        raise ValueError(f"x_shape: expected the shape of x (at least 2 axes), got {x_shape!r}")
    x_shape = tuple(int(s) for s in x_shape)
    dout = check_float_array(dout, "dout", ndim=2)
    check_shape(dout, "dout", (x_shape[0], int(np.prod(x_shape[1:]))), "the flattened x")
    return dout.reshape(x_shape).copy()
