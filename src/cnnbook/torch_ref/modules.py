"""``nn.Module`` wrappers of :mod:`cnnbook.torch_ref.functional`, drop-in for their ``nn.*`` twins.

Each ``Scratch*`` class takes the constructor arguments of the ``torch.nn`` class it replaces, has
the same parameter and buffer names, and initialises them the same way, so ``load_state_dict``
works in both directions and :func:`to_scratch` can swap every layer of a network.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from cnnbook.torch_ref import functional as R

__all__ = [
    "ScratchConv2d",
    "ScratchMaxPool2d",
    "ScratchAvgPool2d",
    "ScratchBatchNorm2d",
    "ScratchReLU",
    "ScratchLinear",
    "ScratchDropout",
    "to_scratch",
]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


class ScratchConv2d(nn.Module):
    """Like ``nn.Conv2d`` (``groups=1`` only), computed by :func:`~cnnbook.torch_ref.conv2d`.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as in ``nn.Conv2d``.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``,
        ``H_out = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``.

    Example:
        >>> conv = ScratchConv2d(1, 32, 3, padding=1)
        >>> conv(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 32, 28, 28])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if groups != 1:
            raise ValueError(f"groups: only groups=1 is implemented from scratch, got {groups}")
        if padding_mode not in R.PADDING_MODES:
            raise ValueError(
                f"padding_mode: expected one of {R.PADDING_MODES}, got {padding_mode!r}"
            )
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.dilation = _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.groups, self.padding_mode = groups, padding_mode
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, *self.kernel_size, **factory)
        )
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's initialisation: Kaiming-uniform weights (a = sqrt(5)), bias uniform in
        +-1/sqrt(fan_in)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return R.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.padding_mode
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}, padding_mode={self.padding_mode!r}"
        )


class ScratchLinear(nn.Module):
    """Like ``nn.Linear``: ``y = x @ weight.T + bias``, same initialisation.

    Shape:
        ``(*, in_features) -> (*, out_features)``.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation (Kaiming-uniform with a = sqrt(5), bias +-1/sqrt(fan_in))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return R.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class ScratchMaxPool2d(nn.Module):
    """Like ``nn.MaxPool2d`` (without ``return_indices`` and ``ceil_mode``).

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)``, same formula as the convolution.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        if return_indices or ceil_mode:
            raise ValueError(
                "return_indices, ceil_mode: not implemented from scratch, expected False, "
                f"got {return_indices}, {ceil_mode}"
            )
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return R.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ScratchAvgPool2d(nn.Module):
    """Like ``nn.AvgPool2d`` (without ``ceil_mode``).

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)``, same formula as the convolution.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        if ceil_mode:
            raise ValueError("ceil_mode: not implemented from scratch, expected False, got True")
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return R.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ScratchBatchNorm2d(nn.Module):
    """Like ``nn.BatchNorm2d``: same parameters (``weight``, ``bias``), buffers (``running_mean``,
    ``running_var``, ``num_batches_tracked``) and train/eval behaviour.

    Shape:
        ``(N, C, H, W)`` -> same.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features: expected a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Tensor) -> Tensor:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm2d does
                factor = 1.0 / float(self.num_batches_tracked)
        # Batch statistics while training, or whenever there are no running estimates.
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return R.batch_norm2d(
            x,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class ScratchReLU(nn.Module):
    """Like ``nn.ReLU``; ``inplace`` is accepted for compatibility but the result is always new."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return R.relu(x)


class ScratchDropout(nn.Module):
    """Like ``nn.Dropout`` (inverted dropout; identity in eval mode)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return R.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_SWAPS = {
    nn.Conv2d: lambda m: ScratchConv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        m.bias is not None,
        m.padding_mode,
    ),  # fmt: skip
    nn.Linear: lambda m: ScratchLinear(m.in_features, m.out_features, m.bias is not None),
    nn.MaxPool2d: lambda m: ScratchMaxPool2d(
        m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices, m.ceil_mode
    ),
    nn.AvgPool2d: lambda m: ScratchAvgPool2d(
        m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override
    ),
    nn.BatchNorm2d: lambda m: ScratchBatchNorm2d(
        m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats
    ),
    nn.ReLU: lambda m: ScratchReLU(m.inplace),
    nn.Dropout: lambda m: ScratchDropout(m.p, m.inplace),
}


def to_scratch(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every ``nn`` layer that has a ``Scratch*`` twin is replaced
    by it, with the same parameters, buffers, device, dtype and train/eval mode. ``model`` itself
    is untouched.

    Args:
        model: any module (a single layer or a network).

    Returns:
        The converted copy.
    """
    model = copy.deepcopy(model)
    swap = _SWAPS.get(type(model))
    if swap is not None:
        return _converted(model, swap)
    for name, child in list(model.named_children()):
        setattr(model, name, to_scratch(child))
    return model


def _converted(layer: nn.Module, swap) -> nn.Module:
    new = swap(layer)
    floating = [t for t in layer.state_dict().values() if t.is_floating_point()]
    if floating:  # Module.to casts only floating tensors: the batch counter stays int64
        new = new.to(device=floating[0].device, dtype=floating[0].dtype)
    new.load_state_dict(layer.state_dict())
    return new.train(layer.training)
