"""Elementwise activations and softmax (assignment 03).

Every forward returns ``(out, cache)`` with ``out`` of the input's shape and dtype; every backward
takes ``(dout, cache)`` and returns ``dx``.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_float_array, check_number, check_same_dtype, check_shape

__all__ = [
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "softmax",
]


def _check_dout(dout: np.ndarray, like: np.ndarray) -> np.ndarray:
    dout = check_float_array(dout, "dout")
    check_same_dtype(dout, "dout", like, "x")
    check_shape(dout, "dout", like.shape, "the shape of the forward output")
    return dout


def _check_cache(cache: object, kind: str, forward: str) -> None:
    if not (isinstance(cache, tuple) and len(cache) >= 2 and cache[0] == kind):
        raise ValueError(
            f"cache: expected the cache returned by {forward}, got {type(cache).__name__}"
        )


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """ReLU, ``max(0, x)``, elementwise.

    Args:
        x: array of any shape, float32 or float64.

    Returns:
        ``(out, cache)``.

    Shape:
        out has the shape of x.

    Example:
        >>> relu_forward(np.array([-1.0, 0.0, 2.0]))[0]
        array([0., 0., 2.])
    """
    x = check_float_array(x, "x")
    # Speed (measured with NumPy 2.4 on one thread): the maximum with a scalar of x's dtype is
    # one pass over x; an array of zeros cost a pass more (np.zeros writes it, or clears reused
    # memory). The 1-byte mask makes the backward pass one multiplication (np.where and copyto
    # with where= are several times slower).
    out = np.maximum(x, x.dtype.type(0))
    return out, ("relu", x > 0, x.dtype)


def relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of ReLU: ``dout`` where x > 0, else 0 (also 0 at x = 0, as in PyTorch).

    Args:
        dout: upstream gradient, shape of x.
        cache: from :func:`relu_forward`.

    Returns:
        dx, shape and dtype of x.

    Shape:
        dx has the shape of x.

    Example:
        >>> out, cache = relu_forward(np.array([-1.0, 0.0, 2.0]))
        >>> relu_backward(np.array([5.0, 5.0, 5.0]), cache)
        array([0., 0., 5.])
    """
    _check_cache(cache, "relu", "relu_forward")
    mask, dtype = cache[1], cache[2]
    dout = check_float_array(dout, "dout")
    if dout.dtype != dtype:
        raise ValueError(f"dout: dtype {dout.dtype} does not match x's dtype {dtype}")
    check_shape(dout, "dout", mask.shape, "the shape of the forward output")
    return dout * mask


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """Leaky ReLU: ``x`` for x > 0, ``negative_slope * x`` otherwise.

    Args:
        x: array of any shape, float32 or float64.
        negative_slope: slope for x <= 0 (any finite number).

    Returns:
        ``(out, cache)``.

    Shape:
        out has the shape of x.

    Example:
        >>> leaky_relu_forward(np.array([-2.0, 3.0]), negative_slope=0.1)[0]
        array([-0.2,  3. ])
    """
    x = check_float_array(x, "x")
    slope = check_number(negative_slope, "negative_slope")
    # The local slope (1 or negative_slope) is both the forward factor and the derivative.
    factor = (x > 0).astype(x.dtype)
    factor *= 1.0 - slope
    factor += slope
    return x * factor, ("leaky_relu", factor)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of leaky ReLU: ``dout`` for x > 0, ``negative_slope * dout`` otherwise.

    Args:
        dout: upstream gradient, shape of x.
        cache: from :func:`leaky_relu_forward`.

    Returns:
        dx, shape and dtype of x.

    Shape:
        dx has the shape of x.

    Example:
        >>> out, cache = leaky_relu_forward(np.array([-1.0, 2.0]), negative_slope=0.1)
        >>> leaky_relu_backward(np.ones(2), cache)
        array([0.1, 1. ])
    """
    _check_cache(cache, "leaky_relu", "leaky_relu_forward")
    factor = cache[1]
    return _check_dout(dout, factor) * factor


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow.

    Args:
        x: array of any shape, float32 or float64.

    Returns:
        ``(out, cache)`` with out in [0, 1].

    Shape:
        out has the shape of x.

    Example:
        >>> sigmoid_forward(np.array([0.0, -1000.0]))[0]
        array([0.5, 0. ])
    """
    x = check_float_array(x, "x")
    # sigmoid(x) = (1 + tanh(x / 2)) / 2 never overflows, unlike exp(-x) for very negative x.
    out = np.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out, ("sigmoid", out)


def sigmoid_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of the sigmoid: ``dout * s * (1 - s)`` with s the forward output.

    Args:
        dout: upstream gradient, shape of x.
        cache: from :func:`sigmoid_forward`.

    Returns:
        dx, shape and dtype of x.

    Shape:
        dx has the shape of x.

    Example:
        >>> out, cache = sigmoid_forward(np.array([0.0]))
        >>> sigmoid_backward(np.ones(1), cache)  # s (1 - s) = 0.25 at 0
        array([0.25])
    """
    _check_cache(cache, "sigmoid", "sigmoid_forward")
    s = cache[1]
    return _check_dout(dout, s) * (s * (1 - s))


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Hyperbolic tangent, elementwise.

    Args:
        x: array of any shape, float32 or float64.

    Returns:
        ``(out, cache)`` with out in [-1, 1].

    Shape:
        out has the shape of x.

    Example:
        >>> tanh_forward(np.array([0.0]))[0]
        array([0.])
    """
    x = check_float_array(x, "x")
    out = np.tanh(x)
    return out, ("tanh", out)


def tanh_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of tanh: ``dout * (1 - t**2)`` with t the forward output.

    Args:
        dout: upstream gradient, shape of x.
        cache: from :func:`tanh_forward`.

    Returns:
        dx, shape and dtype of x.

    Shape:
        dx has the shape of x.

    Example:
        >>> out, cache = tanh_forward(np.array([0.0]))
        >>> tanh_backward(np.ones(1), cache)
        array([1.])
    """
    _check_cache(cache, "tanh", "tanh_forward")
    t = cache[1]
    return _check_dout(dout, t) * (1 - t * t)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``: ``exp(z_i) / sum_j exp(z_j)``, stable for large logits.

    Subtracting the maximum first changes nothing mathematically but keeps ``exp`` from
    overflowing.

    Args:
        logits: array of any shape with at least one dimension, float32 or float64.
        axis: the axis that sums to 1.

    Returns:
        probs, same shape and dtype as ``logits``.

    Shape:
        probs has the shape of logits.

    Example:
        >>> softmax(np.array([1000.0, 1000.0]))
        array([0.5, 0.5])
    """
    logits = check_float_array(logits, "logits", min_ndim=1)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis: expected an int, got {axis!r}")
    if not -logits.ndim <= axis < logits.ndim:
        raise ValueError(
            f"axis: expected an axis in [{-logits.ndim}, {logits.ndim - 1}] for logits of shape "
            f"{logits.shape}, got {axis}"
        )
    shifted = logits - logits.max(axis=axis, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=axis, keepdims=True)
    return probs
