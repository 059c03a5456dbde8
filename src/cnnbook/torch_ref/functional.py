"""The layers of the book written from scratch in PyTorch: differentiable, on any device.

Only tensor arithmetic, indexing, reductions, matrix products and ``F.unfold`` (im2col) are used;
no ``F.conv2d``, ``F.max_pool2d``, ``F.batch_norm`` and the like. Autograd differentiates every
function, and each runs on the device and in the dtype of its inputs. The argument names and
defaults follow ``torch.nn.functional``, so the two are interchangeable in tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "pad2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "batch_norm2d",
    "relu",
    "leaky_relu",
    "linear",
    "dropout",
    "softmax",
    "log_softmax",
    "cross_entropy",
]

IntPair = int | tuple[int, int]
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def pad2d(x: Tensor, padding: tuple[int, int, int, int], mode: str = "zeros") -> Tensor:
    """Pad the last two axes, by indexing (so autograd routes gradients back to the source pixels).

    Args:
        x: input.
        padding: (top, bottom, left, right) in pixels, each >= 0.
        mode: ``"zeros"``, ``"reflect"`` (mirror without repeating the edge), ``"replicate"``
            (repeat the edge) or ``"circular"`` (wrap around).

    Returns:
        The padded tensor.

    Shape:
        ``(..., H, W) -> (..., H + top + bottom, W + left + right)``.
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"mode: expected one of {PADDING_MODES}, got {mode!r}")
    if len(padding) != 4 or any(int(p) != p or p < 0 for p in padding):
        raise ValueError(f"padding: expected four non-negative ints, got {padding!r}")
    top, bottom, left, right = (int(p) for p in padding)
    height, width = x.shape[-2:]
    if mode == "zeros":
        out = x.new_zeros((*x.shape[:-2], height + top + bottom, width + left + right))
        out[..., top : top + height, left : left + width] = x
        return out
    if mode == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
        raise ValueError(
            f"padding: reflect padding must be smaller than the input size {(height, width)}, "
            f"got {padding}"
        )
    rows = _source_index(height, top, bottom, mode, x.device)
    cols = _source_index(width, left, right, mode, x.device)
    return x[..., rows, :][..., cols]


def _source_index(size: int, before: int, after: int, mode: str, device) -> Tensor:
    """For each padded position, the index of the input pixel it copies."""
    index = torch.arange(-before, size + after, device=device)
    if mode == "replicate":
        return index.clamp(0, size - 1)
    if mode == "circular":
        return index % size
    period = 2 * (size - 1)  # reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
    if period == 0:
        return torch.zeros_like(index)
    index = index.abs() % period
    return torch.where(index >= size, period - index, index)


def conv2d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    padding_mode: str = "zeros",
) -> Tensor:
    """2-D cross-correlation (what deep learning calls convolution), by im2col + one matmul.

    Args:
        x: input images.
        w: kernels.
        b: one bias per output channel, or None.
        stride: step of the window, int or (h, w).
        padding: int, (h, w), ``"valid"`` (no padding) or ``"same"`` (output size = input size,
            stride 1 only; an odd total goes to the bottom/right, as in PyTorch).
        dilation: spacing between kernel taps, int or (h, w).
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns:
        The feature maps.

    Shape:
        x ``(N, C_in, H, W)``, w ``(C_out, C_in, kH, kW)``, b ``(C_out,)`` ->
        ``(N, C_out, H_out, W_out)`` with
        ``H_out = floor((H + 2 * pad_h - dilation_h * (kH - 1) - 1) / stride_h) + 1``.
    """
    _check_rank(x, 4, "x", "(N, C_in, H, W)")
    _check_rank(w, 4, "w", "(C_out, C_in, kH, kW)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w: expected {x.shape[1]} input channels like x, got shape {tuple(w.shape)}"
        )
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"b: expected shape ({w.shape[0]},), got {tuple(b.shape)}")
    stride = _pair(stride, "stride", minimum=1)
    dilation = _pair(dilation, "dilation", minimum=1)
    kernel = (w.shape[2], w.shape[3])
    pads = _conv_padding(padding, kernel, stride, dilation)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode: expected one of {PADDING_MODES}, got {padding_mode!r}")
    xp = pad2d(x, pads, padding_mode) if any(pads) else x
    out_h, out_w = _output_size(xp.shape[-2:], kernel, stride, dilation, "x")
    cols = F.unfold(xp, kernel, dilation=dilation, stride=stride)  # (N, C_in*kH*kW, L)
    out = w.reshape(w.shape[0], -1) @ cols  # (N, C_out, L): one matmul for every position
    out = out.reshape(x.shape[0], w.shape[0], out_h, out_w)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def max_pool2d(
    x: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """Maximum over each window (windows may overlap). Padding counts as minus infinity.

    Args:
        x: input.
        kernel_size: window size, int or (h, w).
        stride: step, defaults to ``kernel_size``.
        padding: implicit padding on each side, at most half the window.
        dilation: spacing between window taps.

    Returns:
        The pooled maps; autograd sends each window's gradient to its arg-max only.

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)``, same formula as :func:`conv2d`.
    """
    x4, kernel, stride, pads, dilation = _pool_setup(x, kernel_size, stride, padding, dilation)
    if any(pads):
        x4 = pad2d(x4, pads).masked_fill(_pad_mask(x4, pads), float("-inf"))
    windows, out_size = _windows(x4, kernel, stride, dilation)
    # max (not amax): on ties the gradient goes to one element, as in PyTorch's max pooling.
    return windows.max(dim=1).values.reshape(*x.shape[:-2], *out_size)


def avg_pool2d(
    x: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window (windows may overlap), with PyTorch's padding conventions.

    Args:
        x: input.
        kernel_size: window size, int or (h, w).
        stride: step, defaults to ``kernel_size``.
        padding: zero padding on each side, at most half the window.
        count_include_pad: divide by the full window size (True) or by the number of real pixels.
        divisor_override: divide every window sum by this number instead.

    Returns:
        The pooled maps; autograd spreads each window's gradient evenly over it.

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)``, same formula as :func:`conv2d`.
    """
    x4, kernel, stride, pads, _ = _pool_setup(x, kernel_size, stride, padding, 1)
    if divisor_override is not None and (
        int(divisor_override) != divisor_override or divisor_override < 1
    ):
        raise ValueError(
            f"divisor_override: expected a positive int or None, got {divisor_override!r}"
        )
    padded = pad2d(x4, pads) if any(pads) else x4
    windows, out_size = _windows(padded, kernel, stride, (1, 1))
    total = windows.sum(dim=1)
    if divisor_override is not None:
        out = total / divisor_override
    elif count_include_pad or not any(pads):
        out = total / (kernel[0] * kernel[1])
    else:
        real = pad2d(torch.ones_like(x4[:1]), pads)  # 1 on real pixels, 0 on padding
        counts, _ = _windows(real, kernel, stride, (1, 1))
        out = total / counts.sum(dim=1)
    return out.reshape(*x.shape[:-2], *out_size)


def global_avg_pool2d(x: Tensor) -> Tensor:
    """Mean of each feature map: one number per channel.

    Shape:
        ``(N, C, H, W) -> (N, C)``.
    """
    _check_rank(x, 4, "x", "(N, C, H, W)")
    return x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])


def batch_norm2d(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, H, W) for each channel, with PyTorch's semantics.

    Training: normalise with the batch mean and biased variance, and, when buffers are given,
    update them in place: ``running = (1 - momentum) * running + momentum * batch_stat``, where the
    running variance takes the unbiased batch variance. Evaluation: normalise with the buffers.

    Args:
        x: input.
        running_mean: per-channel buffer (updated in place when training), or None.
        running_var: per-channel buffer (updated in place when training), or None.
        weight: gamma, per channel, or None (= 1).
        bias: beta, per channel, or None (= 0).
        training: use batch statistics (True) or the running ones (False).
        momentum: weight of the new batch in the running estimates.
        eps: added to the variance before the square root.

    Returns:
        ``gamma * (x - mean) / sqrt(var + eps) + beta``.

    Shape:
        x ``(N, C, H, W)``, every per-channel tensor ``(C,)``; output like x.
    """
    _check_rank(x, 4, "x", "(N, C, H, W)")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(f"{name}: expected shape ({channels},), got {tuple(t.shape)}")
    shape = (1, channels, 1, 1)
    if training:
        count = x.numel() // channels
        if count < 2:
            raise ValueError(
                "x: expected more than 1 value per channel when training, "
                f"got shape {tuple(x.shape)}"
            )
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - mean.reshape(shape)) ** 2).mean(dim=(0, 2, 3))  # biased, to normalise
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
        if running_var is not None:
            with torch.no_grad():
                unbiased = var.detach() * (count / (count - 1))
                running_var.mul_(1 - momentum).add_(momentum * unbiased)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "running_mean, running_var: expected tensors in evaluation mode, got None"
            )
        mean, var = running_mean, running_var
    out = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def relu(x: Tensor) -> Tensor:
    """``max(0, x)`` elementwise (gradient 0 at x = 0, as in PyTorch). Shape kept."""
    return torch.where(x > 0, x, torch.zeros_like(x))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for x > 0, ``negative_slope * x`` otherwise. Shape kept."""
    return torch.where(x > 0, x, x * negative_slope)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``x @ weight.T + bias``.

    Shape:
        x ``(*, in_features)``, weight ``(out_features, in_features)``, bias ``(out_features,)``
        -> ``(*, out_features)``.
    """
    _check_rank(weight, 2, "weight", "(out_features, in_features)")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"x: expected last dimension {weight.shape[1]} (in_features), "
            f"got shape {tuple(x.shape)}"
        )
    out = x @ weight.T
    return out if bias is None else out + bias


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)`` while training, so evaluation is the identity.

    Args:
        x: input.
        p: drop probability in [0, 1].
        training: apply dropout (True) or return ``x`` unchanged (False).
        generator: optional random generator (on x's device) for a reproducible mask.

    Shape:
        kept.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep.to(x.dtype) / (1.0 - p)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, stable for large inputs (the max is subtracted)."""
    shifted = x - x.amax(dim=dim, keepdim=True).detach()
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``log(softmax(x))`` computed as ``x - logsumexp(x)`` (stable)."""
    top = x.amax(dim=dim, keepdim=True).detach()
    return x - top - torch.log(torch.exp(x - top).sum(dim=dim, keepdim=True))


def cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy with integer class targets.

    Args:
        logits: unnormalised scores.
        target: class indices in ``[0, C)`` (int64).
        reduction: ``"mean"`` (over the batch), ``"sum"`` or ``"none"``.

    Returns:
        The loss (a scalar, or one value per example for ``"none"``).

    Shape:
        logits ``(N, C)``, target ``(N,)``.
    """
    _check_rank(logits, 2, "logits", "(N, C)")
    if target.shape != logits.shape[:1] or target.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"target: expected integer class indices of shape ({logits.shape[0]},), "
            f"got {target.dtype} of shape {tuple(target.shape)}"
        )
    if target.numel() and (target.min() < 0 or target.max() >= logits.shape[1]):
        raise ValueError(
            f"target: expected classes in [0, {logits.shape[1]}), got {target.tolist()}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    picked = log_softmax(logits, dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    losses = -picked
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


# ---------------------------------------------------------------------------------------------
# Validation and window helpers.


def _check_rank(t: Tensor, rank: int, name: str, layout: str) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor {layout}, got {type(t).__name__}")
    if t.dim() != rank:
        raise ValueError(f"{name}: expected a {rank}-D tensor {layout}, got shape {tuple(t.shape)}")


def _pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name}: expected values >= {minimum}, got {value!r}")
    return pair


def _conv_padding(
    padding: IntPair | str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for conv2d's ``padding`` argument."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"padding: 'same' needs stride 1, got stride {stride}")
        total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
    if isinstance(padding, str):
        raise ValueError(f"padding: expected an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = _pair(padding, "padding", minimum=0)
    return (ph, ph, pw, pw)


def _output_size(
    size, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], name: str
) -> tuple[int, int]:
    out = []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        span = d * (k - 1) + 1
        if span > n:
            raise ValueError(
                f"{name}: the (dilated) window {span} is larger than the padded input {tuple(size)}"
            )
        out.append((n - span) // s + 1)
    return out[0], out[1]


def _pool_setup(x, kernel_size, stride, padding, dilation):
    """Validate pooling arguments; returns x as (N*C, 1, H, W) and the normalised arguments."""
    _check_rank(x, 4, "x", "(N, C, H, W)")
    kernel = _pair(kernel_size, "kernel_size", minimum=1)
    stride = kernel if stride is None else _pair(stride, "stride", minimum=1)
    ph, pw = _pair(padding, "padding", minimum=0)
    dilation = _pair(dilation, "dilation", minimum=1)
    if ph > kernel[0] // 2 or pw > kernel[1] // 2:  # PyTorch's rule
        raise ValueError(f"padding: expected at most half the window {kernel}, got {padding!r}")
    x4 = x.reshape(-1, 1, *x.shape[-2:])
    return x4, kernel, stride, (ph, ph, pw, pw), dilation


def _pad_mask(x4: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """True on the padding ring of a padded copy of x4 (one map: it broadcasts over N*C)."""
    real = torch.ones((1, 1, *x4.shape[-2:]), dtype=torch.bool, device=x4.device)
    return pad2d(real, pads).logical_not()


def _windows(x4: Tensor, kernel, stride, dilation) -> tuple[Tensor, tuple[int, int]]:
    """Every window as a column: ``(N*C, kH*kW, L)``, and the output size."""
    out_size = _output_size(x4.shape[-2:], kernel, stride, dilation, "x")
    return F.unfold(x4, kernel, dilation=dilation, stride=stride), out_size
