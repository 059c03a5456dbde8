"""Padding of the last two (spatial) axes: zeros, reflect, replicate (assignment 02)."""

from __future__ import annotations

import numpy as np

from ._validate import as_pair, check_float_array

__all__ = ["pad2d", "PAD_MODES"]

# Our mode names and what np.pad calls them; torch.nn.functional.pad calls them
# "constant", "reflect" and "replicate".
PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}


def pad2d(x: np.ndarray, padding: int | tuple[int, int], mode: str = "zeros") -> np.ndarray:
    """Pad the two last axes (H, W) of ``x`` symmetrically.

    Args:
        x: array of shape (..., H, W), e.g. (N, C, H, W), float32 or float64.
        padding: int or (pH, pW): cells added above and below (pH) and left and right (pW).
        mode: ``"zeros"`` (add zeros), ``"reflect"`` (mirror without repeating the edge:
            ``[a b c] -> b [a b c] b``) or ``"replicate"`` (repeat the edge value).
            They match ``torch.nn.functional.pad`` modes "constant", "reflect", "replicate".

    Returns:
        A new array of the same dtype; ``x`` is not modified.

    Shape:
        (..., H, W) -> (..., H + 2*pH, W + 2*pW)

    Raises:
        ValueError: unknown mode, negative padding, an array with fewer than 2 axes, or
            reflect padding not smaller than the size of the padded axis.

    Example:
        >>> pad2d(np.arange(3.0).reshape(1, 3), (0, 2), mode="reflect")
        array([[2., 1., 0., 1., 2., 1., 0.]])
    """
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"mode: expected one of {sorted(PAD_MODES)}, got {mode!r}")
    x = check_float_array(x, "x", min_ndim=2)
    ph, pw = as_pair(padding, "padding", 0)
    h, w = x.shape[-2:]
    if mode == "reflect" and (ph >= h or pw >= w):
        raise ValueError(
            f"padding: reflect padding must be smaller than the padded axis, got padding "
            f"(pH={ph}, pW={pw}) for an input of spatial size (H={h}, W={w}); "
            "expected pH < H and pW < W"
        )
    if mode == "zeros":
        return zero_pad(x, ph, pw)
    pad_width = [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)]
    return np.pad(x, pad_width, mode=PAD_MODES[mode])


def zero_pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero padding without validation (faster than np.pad); always returns a new array."""
    if ph == 0 and pw == 0:
        return x.copy()
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[..., ph : ph + h, pw : pw + w] = x
    return out
