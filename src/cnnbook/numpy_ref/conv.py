"""2-D convolution (cross-correlation, as in PyTorch): naive, im2col, backward (assignment 02).

Both forward functions return the same kind of cache, so ``conv2d_backward`` serves both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._validate import as_pair, check_float_array, check_nchw, check_same_dtype, check_shape
from .padding import zero_pad

__all__ = ["conv2d_forward_naive", "conv2d_forward", "conv2d_backward"]

IntOrPair = int | tuple[int, int]

# Reusable temporaries of the backward pass, per thread. Fresh arrays of tens of MB cost page
# faults on every call (measured: about a fifth of the backward's time at N = 64); a buffer kept
# from the previous call is already mapped. Only arrays that never leave the function that asked
# for them go here: nothing returned or stored in a cache may alias a scratch buffer.
_SCRATCH = threading.local()
_SCRATCH_SLOTS = 8  # least recently used buffers beyond this are dropped
_BLOCK_BYTES = 2 << 20  # size of the input gradient's column block (about the L2 cache)


def _scratch(purpose: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A temporary of this shape and dtype, reused across calls; zeros when first created.

    Its contents are whatever the previous call with the same purpose left there.
    """
    slots = getattr(_SCRATCH, "slots", None)
    if slots is None:
        slots = _SCRATCH.slots = OrderedDict()
    key = (purpose, tuple(shape), np.dtype(dtype))
    buf = slots.pop(key, None)
    if buf is None:
        buf = np.zeros(shape, dtype=dtype)
        while len(slots) >= _SCRATCH_SLOTS:
            slots.popitem(last=False)
    slots[key] = buf
    return buf


@dataclass(frozen=True)
class _ConvCache:
    """What the backward pass needs. ``cols`` is None after the naive forward."""

    x_shape: tuple[int, int, int, int]
    x_padded: np.ndarray  # (N, C_in, H + 2pH, W + 2pW)
    w: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_size: tuple[int, int]
    cols: np.ndarray | None  # (N, C_in*kH*kW + 1, H_out*W_out), the last row all ones


def _check_conv_args(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: IntOrPair, padding: IntOrPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate the arguments of a convolution; return stride, padding and output size."""
    x = check_nchw(x, "x")
    w = check_float_array(w, "w")
    if w.ndim != 4:
        raise ValueError(
            f"w: expected a 4-D array (C_out, C_in, kH, kW), got {w.ndim}-D with shape {w.shape}"
        )
    check_same_dtype(w, "w", x, "x")
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w: expected C_in = {x.shape[1]} input channels (x has shape {x.shape}), "
            f"got w of shape {w.shape} with C_in = {w.shape[1]}"
        )
    if b is not None:
        b = check_float_array(b, "b")
        check_same_dtype(b, "b", x, "x")
        check_shape(b, "b", (w.shape[0],), "one bias per output channel C_out")
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    kh, kw = w.shape[2:]
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    if kh > hp or kw > wp:
        raise ValueError(
            f"w: a kernel of size ({kh}, {kw}) is larger than the padded input "
            f"({hp}, {wp}) (x spatial size {x.shape[2:]} with padding ({ph}, {pw})); "
            "expected kH <= H + 2*pH and kW <= W + 2*pW"
        )
    out_size = ((hp - kh) // sh + 1, (wp - kw) // sw + 1)
    return (sh, sw), (ph, pw), out_size


def conv2d_forward_naive(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
) -> tuple[np.ndarray, _ConvCache]:
    """Convolution with explicit loops: one dot product per output value (teaching code).

    Args:
        x: input images, (N, C_in, H, W).
        w: kernels, (C_out, C_in, kH, kW).
        b: biases, (C_out,), or None for no bias.
        stride: int or (sH, sW), step between neighbouring windows.
        padding: int or (pH, pW), zeros added on each side.

    Returns:
        ``(out, cache)``; pass ``cache`` to :func:`conv2d_backward`.

    Shape:
        out: (N, C_out, H_out, W_out) with H_out = floor((H + 2*pH - kH) / sH) + 1 and
        W_out = floor((W + 2*pW - kW) / sW) + 1.

    Example:
        >>> x = np.ones((1, 1, 5, 5)); w = np.ones((1, 1, 3, 3))
        >>> conv2d_forward_naive(x, w, None, padding=1)[0][0, 0, 0]
        array([4., 6., 6., 6., 4.])
    """
    (sh, sw), (ph, pw), (ho, wo) = _check_conv_args(x, w, b, stride, padding)
    n_images, c_out = x.shape[0], w.shape[0]
    kh, kw = w.shape[2:]
    xp = zero_pad(x, ph, pw)
    out = np.zeros((n_images, c_out, ho, wo), dtype=x.dtype)
    for n in range(n_images):
        for f in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    window = xp[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    out[n, f, i, j] = np.sum(window * w[f])
            if b is not None:
                out[n, f] += b[f]
    cache = _ConvCache(x.shape, xp, w.copy(), (sh, sw), (ph, pw), (ho, wo), None)
    return out, cache


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """A read-only (N, C, kH, kW, H_out, W_out) view: element [n, c, i, j, y, x] is
    xp[n, c, y*sH + i, x*sW + j]. No data is copied."""
    sn, sc, s_h, s_w = xp.strides
    return as_strided(
        xp,
        shape=(xp.shape[0], xp.shape[1], kh, kw, ho, wo),
        strides=(sn, sc, s_h, s_w, s_h * sh, s_w * sw),
        writeable=False,
    )


def _im2col(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """(N, C*kH*kW + 1, H_out*W_out): one column per output position, per image.

    This layout makes the forward pass one matmul per image whose result is already NCHW. The
    extra last row of ones carries the bias through that matmul, and gives db in the backward
    pass's matmul for dw: two passes over large arrays fewer than adding b and summing dout.
    """
    n, c = xp.shape[:2]
    k = c * kh * kw
    cols = np.empty((n, k + 1, ho * wo), dtype=xp.dtype)
    np.copyto(cols[:, :k].reshape(n, c, kh, kw, ho, wo), _windows(xp, kh, kw, sh, sw, ho, wo))
    cols[:, k] = 1
    return cols


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
) -> tuple[np.ndarray, _ConvCache]:
    """Vectorised convolution: im2col, then one matrix product (no Python loop over positions).

    Same arguments, result and cache as :func:`conv2d_forward_naive`.

    Args:
        x: input images, (N, C_in, H, W).
        w: kernels, (C_out, C_in, kH, kW).
        b: biases, (C_out,), or None for no bias.
        stride: int or (sH, sW).
        padding: int or (pH, pW), zeros added on each side.

    Returns:
        ``(out, cache)``; pass ``cache`` to :func:`conv2d_backward`.

    Shape:
        out: (N, C_out, H_out, W_out) with H_out = floor((H + 2*pH - kH) / sH) + 1 and
        W_out = floor((W + 2*pW - kW) / sW) + 1.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
        >>> out, cache = conv2d_forward(x, np.ones((4, 3, 3, 3)), np.zeros(4), stride=2)
        >>> out.shape
        (2, 4, 3, 3)
    """
    (sh, sw), (ph, pw), (ho, wo) = _check_conv_args(x, w, b, stride, padding)
    n_images, c_out = x.shape[0], w.shape[0]
    kh, kw = w.shape[2:]
    xp = zero_pad(x, ph, pw)
    cols = _im2col(xp, kh, kw, sh, sw, ho, wo)
    # The bias is the weight of the row of ones in cols.
    w_b = np.empty((c_out, cols.shape[1]), dtype=x.dtype)
    w_b[:, :-1] = w.reshape(c_out, -1)
    w_b[:, -1] = 0 if b is None else b
    out = np.matmul(w_b, cols)  # (N, C_out, H_out*W_out)
    cache = _ConvCache(x.shape, xp, w.copy(), (sh, sw), (ph, pw), (ho, wo), cols)
    return out.reshape(n_images, c_out, ho, wo), cache


def conv2d_backward(
    dout: np.ndarray, cache: _ConvCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a convolution with respect to its input, kernels and biases.

    ``dw`` correlates the input with ``dout``; ``dx`` spreads each output's gradient back over
    the window it came from (a full convolution of ``dout`` with the flipped kernels).

    Args:
        dout: upstream gradient, (N, C_out, H_out, W_out).
        cache: from :func:`conv2d_forward` or :func:`conv2d_forward_naive`.

    Returns:
        ``(dx, dw, db)`` with the shapes of ``x``, ``w`` and ``b`` (``db`` has shape (C_out,)
        even when the forward pass had no bias).

    Shape:
        dx: (N, C_in, H, W); dw: (C_out, C_in, kH, kW); db: (C_out,).

    Example:
        >>> x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
        >>> out, cache = conv2d_forward(x, w, np.zeros(1))
        >>> dx, dw, db = conv2d_backward(np.ones_like(out), cache)
        >>> dx[0, 0]  # how many windows each pixel belongs to
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    if not isinstance(cache, _ConvCache):
        raise ValueError(
            f"cache: expected the cache returned by conv2d_forward, got {type(cache).__name__}"
        )
    xp, w = cache.x_padded, cache.w
    n_images, c_in, h, wd = cache.x_shape
    c_out, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (ho, wo) = cache.stride, cache.padding, cache.out_size
    dout = check_nchw(dout, "dout")
    check_same_dtype(dout, "dout", xp, "x")
    check_shape(dout, "dout", (n_images, c_out, ho, wo), "the shape of the forward output")

    cols = cache.cols if cache.cols is not None else _im2col(xp, kh, kw, sh, sw, ho, wo)
    dout_mat = dout.reshape(n_images, c_out, ho * wo)
    # One matmul per image, reading dout transposed (a view, no copy); then sum over images.
    # Measured: (K, P) @ (P, C_out) runs faster than (C_out, P) @ (P, K) with OpenBLAS.
    per_image = _scratch("dw", (n_images, cols.shape[1], c_out), dout.dtype)
    np.matmul(cols, dout_mat.transpose(0, 2, 1), out=per_image)
    dw_t = per_image.sum(axis=0)  # (C_in*kH*kW + 1, C_out); the row of ones gives db
    dw = np.ascontiguousarray(dw_t[:-1].T).reshape(w.shape)
    db = dw_t[-1].copy()
    # A contiguous copy of the small transposed kernel matrix makes OpenBLAS faster here.
    w_t = np.ascontiguousarray(w.reshape(c_out, -1).T)
    if (sh, sw) == (1, 1):
        dx_padded = _input_grad_stride1(dout, w_t, xp.shape, kh, kw)  # a scratch buffer
    else:
        dcols = np.matmul(w_t, dout_mat)  # (N, C_in*kH*kW, H_out*W_out)
        dx_padded = _col2im(dcols, xp.shape, kh, kw, sh, sw, ho, wo)
    # Always a copy: dx_padded may be a reused scratch buffer.
    dx = dx_padded[:, :, ph : ph + h, pw : pw + wd].copy()
    return dx, dw, db


def _col2im(
    dcols: np.ndarray,
    padded_shape: tuple[int, ...],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    ho: int,
    wo: int,
) -> np.ndarray:
    """Adjoint of _im2col: add every column entry back to the pixel it was read from.

    One vectorised add per kernel offset (kH*kW of them); overlapping windows accumulate.
    """
    n, c = padded_shape[:2]
    dcols = dcols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += dcols[:, :, i, j]
    return dxp


def _input_grad_stride1(
    dout: np.ndarray, w_t: np.ndarray, padded_shape: tuple[int, ...], kh: int, kw: int
) -> np.ndarray:
    """Gradient of the padded input for stride 1, with long contiguous additions.

    Same result as ``_col2im(w_t @ dout)``, faster: ``dout`` is widened with zero columns to the
    padded width Wp, so that output (y, x) and its input pixel (y + i, x + j) are a constant
    ``i*Wp + j`` apart in the flattened (H*Wp) image. Each kernel offset then adds one contiguous
    block of H_out*Wp values per channel instead of H_out short rows; the zero columns contribute
    nothing. Costs a few percent more in the matrix product; saves more in the additions.
    Returns a view of a scratch buffer that the next call overwrites: copy what you keep.
    """
    n, c_out, ho, wo = dout.shape
    c_in, hp, wp = padded_shape[1:]
    # Scratch buffers: the zero columns of `wide` are never written, so they stay zero.
    wide = _scratch("wide", (n, c_out, ho, wp), dout.dtype)
    wide[..., :wo] = dout
    wide = wide.reshape(n, c_out, ho * wp)
    # kw - 1 spare cells at the end: the widened rows of the last offsets run past H*Wp.
    flat = _scratch("flat", (n, c_in, hp * wp + kw - 1), dout.dtype)
    # A few input channels at a time, so that the product's block is still in cache when the
    # additions read it (measured: 25% faster at N = 64, 16 channels, 28x28, than all at once).
    per_channel = n * kh * kw * ho * wp * dout.itemsize
    block = max(1, min(c_in, _BLOCK_BYTES // per_channel))
    for c0 in range(0, c_in, block):
        c1 = min(c_in, c0 + block)
        dcols = _scratch("dcols", (n, (c1 - c0) * kh * kw, ho * wp), dout.dtype)
        np.matmul(w_t[c0 * kh * kw : c1 * kh * kw], wide, out=dcols)
        dcols = dcols.reshape(n, c1 - c0, kh, kw, ho * wp)
        part = flat[:, c0:c1]
        # Offset (0, 0) starts at 0: copy it rather than zero the buffer and add (a pass less).
        part[:, :, : ho * wp] = dcols[:, :, 0, 0]
        part[:, :, ho * wp :] = 0
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    start = i * wp + j
                    part[:, :, start : start + ho * wp] += dcols[:, :, i, j]
    return flat[:, :, : hp * wp].reshape(n, c_in, hp, wp)
