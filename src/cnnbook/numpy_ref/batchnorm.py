"""Batch normalisation over (N, H, W) for each channel, as torch.nn.BatchNorm2d (assignment 05)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import (
    check_bool,
    check_float_array,
    check_nchw,
    check_number,
    check_same_dtype,
    check_shape,
)

__all__ = ["batchnorm2d_forward", "batchnorm2d_backward"]


@dataclass(frozen=True)
class _BatchNormCache:
    x_hat: np.ndarray  # the normalised input, (N, C, H, W)
    inv_std: np.ndarray  # 1 / sqrt(var + eps), (C,)
    gamma: np.ndarray
    training: bool


def _per_channel(v: np.ndarray) -> np.ndarray:
    """(C,) -> (C, 1, 1), which broadcasts against (N, C, H, W)."""
    return v[:, None, None]


def batchnorm2d_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, _BatchNormCache, np.ndarray, np.ndarray]:
    """Normalise each channel, then scale by ``gamma`` and shift by ``beta``.

    Training mode normalises with the batch mean and the *biased* batch variance (divide by
    M = N*H*W) and updates the running estimates with the *unbiased* variance (divide by M - 1):
    ``new = (1 - momentum) * running + momentum * batch``, exactly as PyTorch. Eval mode
    normalises with the running estimates and returns them unchanged (as copies).

    Args:
        x: (N, C, H, W), float32 or float64.
        gamma: (C,) scale. beta: (C,) shift.
        running_mean: (C,). running_var: (C,). Not modified.
        training: True for batch statistics, False for the running estimates.
        momentum: weight of the current batch in the running estimates, in [0, 1].
        eps: added to the variance before the square root, > 0.

    Returns:
        ``(out, cache, new_running_mean, new_running_var)``.

    Shape:
        out: (N, C, H, W), like x.

    Example:
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 2, 4, 4))
        >>> c = np.ones(2)
        >>> out, cache, rm, rv = batchnorm2d_forward(x, c, 0 * c, 0 * c, c, training=True)
        >>> bool(abs(out.mean()) < 1e-12), rm.shape
        (True, (2,))
    """
    x = check_nchw(x, "x")
    c = x.shape[1]
    for name, value in (
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        check_float_array(value, name)
        check_same_dtype(value, name, x, "x")
        check_shape(value, name, (c,), f"one value per channel, C = {c}")
    training = check_bool(training, "training")
    momentum = check_number(momentum, "momentum", 0.0, 1.0)
    eps = check_number(eps, "eps", 0.0, None, low_open=True)
    n, _, h, w = x.shape
    count = n * h * w

    if training:
        if count < 2:
            raise ValueError(
                f"x: training mode needs more than one value per channel (N*H*W > 1), got shape "
                f"{x.shape}"
            )
        # Sums over the contiguous last axis of an (N, C, H*W) view are fast and accurate.
        x3 = x.reshape(n, c, h * w)
        mean = x3.sum(axis=2).sum(axis=0) / count
        centred = x - _per_channel(mean)
        c3 = centred.reshape(n, c, h * w)
        var = np.einsum("ncl,ncl->c", c3, c3) / count  # biased: this is what normalises
        unbiased = var * (count / (count - 1))
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        centred = x - _per_channel(running_mean)
        var = running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()

    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = centred
    x_hat *= _per_channel(inv_std)  # in place: `centred` is a fresh array
    out = x_hat * _per_channel(gamma)
    out += _per_channel(beta)
    cache = _BatchNormCache(x_hat, inv_std.astype(x.dtype), gamma.copy(), training)
    return out, cache, new_mean.astype(x.dtype), new_var.astype(x.dtype)


def batchnorm2d_backward(
    dout: np.ndarray, cache: _BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of batch normalisation.

    In training mode the mean and variance depend on every input, which gives the compact form
    ``dx = gamma * inv_std / M * (M * dout - sum(dout) - x_hat * sum(dout * x_hat))``
    (sums per channel over N, H, W; M = N*H*W). In eval mode the statistics are constants and
    ``dx = gamma * inv_std * dout``.

    Args:
        dout: (N, C, H, W), upstream gradient.
        cache: from :func:`batchnorm2d_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``.

    Shape:
        dx: (N, C, H, W); dgamma, dbeta: (C,).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(4, 2, 3, 3))
        >>> c = np.ones(2)
        >>> out, cache, _, _ = batchnorm2d_forward(x, c, 0 * c, 0 * c, c, training=True)
        >>> dx, dgamma, dbeta = batchnorm2d_backward(np.ones_like(out), cache)
        >>> bool(np.abs(dx).max() < 1e-12), dbeta  # a constant dout is normalised away
        (True, array([36., 36.]))
    """
    if not isinstance(cache, _BatchNormCache):
        raise ValueError(
            f"cache: expected the cache returned by batchnorm2d_forward, got {type(cache).__name__}"
        )
    x_hat = cache.x_hat
    dout = check_nchw(dout, "dout")
    check_same_dtype(dout, "dout", x_hat, "x")
    check_shape(dout, "dout", x_hat.shape, "the shape of the forward output")
    n, c, h, w = x_hat.shape
    count = n * h * w
    d3 = dout.reshape(n, c, h * w)
    dbeta = d3.sum(axis=2).sum(axis=0)
    dgamma = np.einsum("ncl,ncl->c", d3, x_hat.reshape(n, c, h * w))
    scale = cache.gamma * cache.inv_std
    if not cache.training:
        return dout * _per_channel(scale), dgamma, dbeta
    # dx = scale * dout - scale * dgamma / M * x_hat - scale * dbeta / M, per channel.
    dx = dout * _per_channel(scale)
    dx -= x_hat * _per_channel(scale * dgamma / count)
    dx -= _per_channel(scale * dbeta / count)
    return dx, dgamma, dbeta
