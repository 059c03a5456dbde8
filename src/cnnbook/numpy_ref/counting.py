"""Counting helpers: parameters, output sizes and receptive fields (assignment 01)."""

from __future__ import annotations

from collections.abc import Sequence

from ._validate import as_pair, check_bool, check_int

__all__ = ["dense_params", "conv2d_params", "conv2d_output_size", "receptive_field"]


def dense_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Number of learnable parameters of a fully connected layer.

    Args:
        in_features: inputs per neuron.
        out_features: number of neurons.
        bias: whether each neuron has a bias.

    Returns:
        ``in_features * out_features`` weights, plus ``out_features`` biases when ``bias``.

    Example:
        >>> dense_params(3136, 128)
        401536
    """
    in_features = check_int(in_features, "in_features", 1)
    out_features = check_int(out_features, "out_features", 1)
    bias = check_bool(bias, "bias")
    return in_features * out_features + (out_features if bias else 0)


def conv2d_params(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True
) -> int:
    """Number of learnable parameters of a 2-D convolution.

    Each of the ``out_channels`` kernels spans ``kH x kW x in_channels`` weights and has one bias.

    Args:
        in_channels: channels of the input (C_in).
        out_channels: number of kernels (C_out).
        kernel_size: int or (kH, kW).
        bias: whether each kernel has a bias.

    Returns:
        ``kH * kW * C_in * C_out`` (+ ``C_out`` with bias).

    Example:
        >>> conv2d_params(32, 64, 3)
        18496
    """
    in_channels = check_int(in_channels, "in_channels", 1)
    out_channels = check_int(out_channels, "out_channels", 1)
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    bias = check_bool(bias, "bias")
    return kh * kw * in_channels * out_channels + (out_channels if bias else 0)


def conv2d_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Length of one spatial dimension after a convolution or pooling layer.

    Args:
        size: input length N (height or width).
        kernel_size: kernel length K.
        stride: step S between neighbouring windows.
        padding: P cells added on each side.
        dilation: spacing D between kernel taps (1 = a dense kernel).

    Returns:
        ``floor((N + 2P - D*(K-1) - 1) / S) + 1``, which is ``floor((N - K + 2P) / S) + 1``
        when D = 1.

    Raises:
        ValueError: for a bad argument, or when the (dilated) kernel does not fit in the padded
            input, i.e. the result would be below 1.

    Example:
        >>> conv2d_output_size(224, 7, stride=2, padding=3)
        112
    """
    size = check_int(size, "size", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    span = dilation * (kernel_size - 1) + 1
    if span > size + 2 * padding:
        raise ValueError(
            f"kernel_size: a kernel spanning {span} cells (kernel_size={kernel_size}, "
            f"dilation={dilation}) does not fit in the padded input of {size + 2 * padding} cells "
            f"(size={size}, padding={padding}); expected kernel span <= size + 2 * padding"
        )
    return (size + 2 * padding - span) // stride + 1


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (in input pixels, along one axis) of a stack of layers.

    Each layer adds ``(k - 1) * jump`` pixels, where ``jump`` is the product of the strides of
    the layers before it (the distance in input pixels between neighbouring units).

    Args:
        layers: ``(kernel_size, stride)`` pairs, first layer first. An empty stack sees 1 pixel.

    Returns:
        The side length of the input region one output unit depends on.

    Example:
        >>> receptive_field([(3, 1), (3, 1)])  # two 3x3 convolutions see 5x5
        5
        >>> receptive_field([(3, 1), (2, 2), (3, 1)])
        8
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise ValueError(
            f"layers: expected a list of (kernel_size, stride) pairs, got {type(layers).__name__}"
        )
    field, jump = 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(
                f"layers[{index}]: expected a (kernel_size, stride) pair, got {layer!r}"
            )
        kernel = check_int(layer[0], f"layers[{index}] kernel_size", 1)
        stride = check_int(layer[1], f"layers[{index}] stride", 1)
        field += (kernel - 1) * jump
        jump *= stride
    return field
