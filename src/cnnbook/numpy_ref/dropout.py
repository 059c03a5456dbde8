"""Inverted dropout: zero each activation with probability p, scale survivors by 1 / (1 - p)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_bool, check_float_array, check_number, check_shape

__all__ = ["dropout_forward", "dropout_backward"]


@dataclass(frozen=True)
class _DropoutCache:
    scale: np.ndarray | None  # 0 or 1 / (1 - p) per element; None when dropout was the identity
    shape: tuple[int, ...]
    dtype: np.dtype


def dropout_forward(
    x: np.ndarray,
    p: float = 0.5,
    training: bool = True,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, _DropoutCache]:
    """Inverted dropout, as ``torch.nn.functional.dropout``.

    Scaling the kept activations by ``1 / (1 - p)`` during training keeps every activation's
    expected value unchanged, so evaluation needs no rescaling: eval mode and ``p = 0`` return an
    unchanged copy of ``x``. PyTorch's random numbers differ from NumPy's, so the masks differ;
    the distribution is the same.

    Args:
        x: array of any shape, float32 or float64.
        p: probability of zeroing an element, in [0, 1].
        training: False turns dropout into the identity.
        rng: a seed (int) or a ``np.random.Generator`` (advanced by the call) for the mask;
            None draws fresh entropy.

    Returns:
        ``(out, cache)``.

    Shape:
        out has the shape of x.

    Example:
        >>> out, _ = dropout_forward(np.ones(6), p=0.5, rng=0)
        >>> sorted(set(out.tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
    """
    x = check_float_array(x, "x")
    p = check_number(p, "p", 0.0, 1.0)
    training = check_bool(training, "training")
    if not (rng is None or isinstance(rng, np.random.Generator)):
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)) or rng < 0:
            raise ValueError(
                f"rng: expected a non-negative int seed, a np.random.Generator or None, got {rng!r}"
            )
    if not training or p == 0.0:
        return x.copy(), _DropoutCache(None, x.shape, x.dtype)
    if p == 1.0:
        scale = np.zeros(x.shape, dtype=x.dtype)
    else:
        generator = np.random.default_rng(rng)
        keep = generator.random(x.shape, dtype=x.dtype) >= p
        scale = keep * x.dtype.type(1.0 / (1.0 - p))
    return x * scale, _DropoutCache(scale, x.shape, x.dtype)


def dropout_backward(dout: np.ndarray, cache: _DropoutCache) -> np.ndarray:
    """Gradient of dropout: the same mask and scale applied to ``dout``.

    Args:
        dout: upstream gradient, shape of x.
        cache: from :func:`dropout_forward`.

    Returns:
        dx, shape and dtype of x.

    Shape:
        dx has the shape of x.

    Example:
        >>> out, cache = dropout_forward(np.ones(4), p=0.5, rng=0)
        >>> bool(np.array_equal(dropout_backward(np.ones(4), cache), out))
        True
    """
    if not isinstance(cache, _DropoutCache):
        raise ValueError(
            f"cache: expected the cache returned by dropout_forward, got {type(cache).__name__}"
        )
    dout = check_float_array(dout, "dout")
    if dout.dtype != cache.dtype:
        raise ValueError(f"dout: dtype {dout.dtype} does not match x's dtype {cache.dtype}")
    check_shape(dout, "dout", cache.shape, "the shape of the forward output")
    return dout.copy() if cache.scale is None else dout * cache.scale
