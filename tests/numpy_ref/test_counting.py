"""Counting helpers: the syllabus' worked examples, PyTorch shapes and parameter counts."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnbook.numpy_ref import conv2d_output_size, conv2d_params, dense_params, receptive_field

# (size, kernel, stride, padding, expected) from the syllabus (chapter 2).
WORKED_SIZES = [
    (32, 5, 1, 0, 28),
    (32, 3, 1, 0, 30),
    (32, 3, 1, 1, 32),
    (32, 3, 2, 0, 15),
    (32, 3, 2, 1, 16),
    (224, 7, 2, 3, 112),
    (28, 3, 1, 1, 28),
    (28, 3, 1, 0, 26),
]


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"), WORKED_SIZES)
def test_worked_output_sizes(size, kernel, stride, padding, expected):
    assert conv2d_output_size(size, kernel, stride, padding) == expected
    # PyTorch agrees on the same layer.
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    assert conv(torch.zeros(1, 1, size, size)).shape[-1] == expected


def test_output_size_matches_torch_with_dilation():
    rng = np.random.default_rng(0)
    for _ in range(30):
        size, kernel = int(rng.integers(1, 20)), int(rng.integers(1, 6))
        stride, padding, dilation = (int(v) for v in rng.integers(1, 4, size=3))
        padding -= 1
        if dilation * (kernel - 1) + 1 > size + 2 * padding:
            with pytest.raises(ValueError, match="^kernel_size"):
                conv2d_output_size(size, kernel, stride, padding, dilation)
            continue
        conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
        expected = conv(torch.zeros(1, 1, size, size)).shape[-1]
        assert conv2d_output_size(size, kernel, stride, padding, dilation) == expected


def test_ten_5x5x3_kernels_with_padding_2_keep_32x32():
    side = conv2d_output_size(32, 5, stride=1, padding=2)
    assert (side, side, 10) == (32, 32, 10)
    assert conv2d_params(3, 10, 5) == 5 * 5 * 3 * 10 + 10


def test_reference_cnn_has_421642_parameters():
    ours = (
        conv2d_params(1, 32, 3)
        + conv2d_params(32, 64, 3)
        + dense_params(64 * 7 * 7, 128)
        + dense_params(128, 10)
    )
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(3136, 128),
        nn.Linear(128, 10),
    )
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert ours == sum(p.numel() for p in model.parameters()) == 421_642


@pytest.mark.parametrize("bias", [True, False])
def test_param_counts_match_torch_layers(bias):
    assert dense_params(7, 5, bias) == sum(p.numel() for p in nn.Linear(7, 5, bias).parameters())
    conv = nn.Conv2d(3, 4, (2, 5), bias=bias)
    assert conv2d_params(3, 4, (2, 5), bias) == sum(p.numel() for p in conv.parameters())


def _torch_receptive_field(layers):
    """Measure the receptive field: which input pixels move one central output of the stack."""
    stack = []
    for kernel, stride in layers:
        conv = nn.Conv2d(1, 1, kernel, stride=stride, bias=False)
        nn.init.constant_(conv.weight, 1.0)  # all-positive weights: no cancellation
        stack.append(conv)
    size = 64
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = nn.Sequential(*stack)(x)
    centre = out.shape[-1] // 2
    out[0, 0, centre, centre].backward()
    rows = torch.nonzero(x.grad[0, 0].sum(dim=1)).flatten()
    return int(rows.max() - rows.min() + 1)


def test_receptive_field_hand_examples():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1), (3, 1)]) == 5  # two 3x3 see 5x5
    assert receptive_field([(3, 1)] * 3) == 7  # three see 7x7
    assert receptive_field([(2, 2), (2, 2)]) == 4
    assert receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)]) == 10


@pytest.mark.parametrize("seed", range(4))
def test_receptive_field_matches_gradient_footprint(seed):
    rng = np.random.default_rng(seed)
    layers = [(int(rng.integers(1, 5)), int(rng.integers(1, 3))) for _ in range(3)]
    assert receptive_field(layers) == _torch_receptive_field(layers)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: conv2d_output_size(3, 5), "kernel_size"),
        (lambda: conv2d_output_size(32, 3, stride=0), "stride"),
        (lambda: conv2d_output_size(32, 3, padding=-1), "padding"),
        (lambda: conv2d_output_size(32, 3, dilation=0), "dilation"),
        (lambda: conv2d_output_size(0, 3), "size"),
        (lambda: conv2d_output_size(32.0, 3), "size"),
        (lambda: dense_params(0, 3), "in_features"),
        (lambda: dense_params(3, 2, bias="yes"), "bias"),
        (lambda: conv2d_params(3, 4, (3, 0)), "kernel_size"),
        (lambda: conv2d_params(3, -4, 3), "out_channels"),
        (lambda: receptive_field([(3,)]), r"layers\[0\]"),
        (lambda: receptive_field([(3, 1), (3, 0)]), r"layers\[1\] stride"),
        (lambda: receptive_field("3,1"), "layers"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        call()
