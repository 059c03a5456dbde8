"""Convolution (naive and vectorised) and padding against torch.nn.functional."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnbook.numpy_ref import conv2d_backward, conv2d_forward, conv2d_forward_naive, pad2d
from cnnbook.testing import check_numeric_gradients, compare_with_torch

FORWARDS = [conv2d_forward, conv2d_forward_naive]


def _pair_or_int(rng, low, high):
    if rng.random() < 0.5:
        return int(rng.integers(low, high))
    return (int(rng.integers(low, high)), int(rng.integers(low, high)))


def _random_case(seed):
    """Small random shapes: non-square inputs, rectangular kernels, any stride and padding."""
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
    h, w = (int(v) for v in rng.integers(3, 10, size=2))
    stride = _pair_or_int(rng, 1, 4)
    padding = _pair_or_int(rng, 0, 3)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    kh = int(rng.integers(1, min(5, h + 2 * ph) + 1))
    kw = int(rng.integers(1, min(5, w + 2 * pw) + 1))
    inputs = {
        "x": rng.standard_normal((n, c_in, h, w)).astype(dtype),
        "w": rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype),
        "b": rng.standard_normal(c_out).astype(dtype),
    }
    return inputs, {"stride": stride, "padding": padding}


@pytest.mark.parametrize("forward", FORWARDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", range(24))
def test_conv_matches_torch(forward, seed):
    inputs, kwargs = _random_case(seed)
    compare_with_torch(forward, conv2d_backward, F.conv2d, inputs, kwargs=kwargs, seed=seed)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_conv_property_matches_torch(n, c_in, c_out, size, kernel, stride, padding):
    """Any shape where the kernel fits the padded input, down to 1x1 images."""
    assume(all(k <= s + 2 * p for k, s, p in zip(kernel, size, padding, strict=True)))
    rng = np.random.default_rng(sum(size) + sum(kernel))
    inputs = {
        "x": rng.standard_normal((n, c_in, *size)),
        "w": rng.standard_normal((c_out, c_in, *kernel)),
        "b": rng.standard_normal(c_out),
    }
    kwargs = {"stride": stride, "padding": padding}
    compare_with_torch(conv2d_forward, conv2d_backward, F.conv2d, inputs, kwargs=kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_without_bias_matches_torch(dtype):
    rng = np.random.default_rng(1)
    inputs = {
        "x": rng.standard_normal((2, 3, 7, 6)).astype(dtype),
        "w": rng.standard_normal((4, 3, 3, 2)).astype(dtype),
    }

    def forward(x, w, stride, padding):
        return conv2d_forward(x, w, None, stride=stride, padding=padding)

    def backward(dout, cache):
        dx, dw, db = conv2d_backward(dout, cache)
        return dx, dw

    compare_with_torch(forward, backward, F.conv2d, inputs, kwargs={"stride": 2, "padding": 1})


def test_typical_book_layer_float32():
    """The reference CNN's second layer on a small batch: 32 -> 64 channels, 3x3, padding 1."""
    rng = np.random.default_rng(2)
    inputs = {
        "x": rng.standard_normal((2, 32, 14, 14), dtype=np.float32),
        "w": (rng.standard_normal((64, 32, 3, 3), dtype=np.float32) * 0.1),
        "b": rng.standard_normal(64, dtype=np.float32),
    }
    compare_with_torch(conv2d_forward, conv2d_backward, F.conv2d, inputs, kwargs={"padding": 1})


def test_hand_worked_5x5_example():
    x = np.array(
        [
            [1, 2, 0, 1, 3],
            [0, 1, 2, 3, 1],
            [1, 0, 1, 2, 0],
            [2, 1, 0, 1, 1],
            [0, 2, 1, 0, 1],
        ],
        dtype=np.float64,
    )
    kernel = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)
    # Worked by hand: with this kernel each output is the sum over three rows of
    # x[r, j] - x[r, j + 2]. Those row differences are
    #   row 0: [ 1,  1, -3]   row 1: [-2, -2,  1]   row 2: [ 0, -2,  1]
    #   row 3: [ 2,  0, -1]   row 4: [-1,  2,  0]
    # and output row i adds rows i, i+1, i+2:
    expected = np.array(
        [
            [1 - 2 + 0, 1 - 2 - 2, -3 + 1 + 1],
            [-2 + 0 + 2, -2 - 2 + 0, 1 + 1 - 1],
            [0 + 2 - 1, -2 + 0 + 2, 1 - 1 + 0],
        ],
        dtype=np.float64,
    )
    assert expected.tolist() == [[-1, -3, -1], [0, -4, 1], [1, 0, 0]]
    for forward in FORWARDS:
        out, _ = forward(x[None, None], kernel[None, None], np.array([0.5]))
        np.testing.assert_array_equal(out[0, 0], expected + 0.5)


def test_ten_5x5x3_kernels_on_32x32x3_with_padding_2():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 32, 32), dtype=np.float32)
    w = rng.standard_normal((10, 3, 5, 5), dtype=np.float32)
    out, _ = conv2d_forward(x, w, np.zeros(10, np.float32), padding=2)
    assert out.shape == (1, 10, 32, 32)


def test_naive_and_vectorised_agree():
    inputs, kwargs = _random_case(100)
    fast, _ = conv2d_forward(*inputs.values(), **kwargs)
    naive, _ = conv2d_forward_naive(*inputs.values(), **kwargs)
    np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs", [{"stride": 1, "padding": 1}, {"stride": (2, 1), "padding": (0, 2)}]
)
def test_conv_numeric_gradients(kwargs):
    rng = np.random.default_rng(4)
    inputs = {
        "x": rng.standard_normal((2, 2, 5, 4)),
        "w": rng.standard_normal((3, 2, 3, 2)),
        "b": rng.standard_normal(3),
    }
    check_numeric_gradients(conv2d_forward, conv2d_backward, inputs, kwargs=kwargs)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate"])
@pytest.mark.parametrize("seed", range(4))
def test_pad2d_matches_torch(mode, seed):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    x = rng.standard_normal((2, 3, int(rng.integers(3, 7)), int(rng.integers(3, 7)))).astype(dtype)
    padding = _pair_or_int(rng, 0, 3)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    x_before = x.copy()
    out = pad2d(x, padding, mode)
    torch_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}[mode]
    expected = F.pad(torch.from_numpy(x), (pw, pw, ph, ph), mode=torch_mode).numpy()
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, x_before)


def test_pad2d_on_a_single_image_and_hand_example():
    row = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(pad2d(row, (0, 2), "reflect"), [[3, 2, 1, 2, 3, 2, 1]])
    np.testing.assert_array_equal(pad2d(row, (0, 2), "replicate"), [[1, 1, 1, 2, 3, 3, 3]])
    np.testing.assert_array_equal(pad2d(row, (1, 0)), [[0, 0, 0], [1, 2, 3], [0, 0, 0]])


def _conv_args(**overrides):
    rng = np.random.default_rng(0)
    args = {
        "x": rng.standard_normal((2, 3, 5, 5)),
        "w": rng.standard_normal((4, 3, 3, 3)),
        "b": np.zeros(4),
        "stride": 1,
        "padding": 0,
    }
    args.update(overrides)
    return args


BAD_CONV_ARGS = [
    ({"x": np.zeros((3, 5, 5))}, "x", "4-D"),
    ({"x": np.zeros((2, 3, 5, 5), dtype=np.int64)}, "x", "int64"),
    ({"x": [[[[0.0]]]]}, "x", "list"),
    ({"w": np.zeros((4, 2, 3, 3))}, "w", "C_in = 3"),
    ({"w": np.zeros((4, 3, 3))}, "w", "4-D"),
    ({"w": np.zeros((4, 3, 6, 3))}, "w", "larger than the padded input"),
    ({"w": np.zeros((4, 3, 3, 3), np.float32)}, "w", "float32"),
    ({"b": np.zeros(3)}, "b", r"\(4,\)"),
    ({"stride": 0}, "stride", "positive"),
    ({"stride": (1, -2)}, "stride", "-2"),
    ({"stride": 1.5}, "stride", "1.5"),
    ({"padding": -1}, "padding", "non-negative"),
    ({"padding": (1, 2, 3)}, "padding", "pair"),
]


@pytest.mark.parametrize("forward", FORWARDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("overrides", "argument", "detail"), BAD_CONV_ARGS)
def test_conv_bad_input_raises(forward, overrides, argument, detail):
    with pytest.raises(ValueError, match=f"^{argument}:") as info:
        forward(**_conv_args(**overrides))
    assert __import__("re").search(detail, str(info.value)), str(info.value)


def test_conv_backward_bad_dout_raises():
    out, cache = conv2d_forward(**_conv_args())
    with pytest.raises(ValueError, match="^dout:.*shape"):
        conv2d_backward(np.zeros((2, 4, 3, 4)), cache)
    with pytest.raises(ValueError, match="^dout:.*float32"):
        conv2d_backward(out.astype(np.float32), cache)
    with pytest.raises(ValueError, match="^cache:"):
        conv2d_backward(out, None)


@pytest.mark.parametrize(
    ("call", "argument", "detail"),
    [
        (lambda x: pad2d(x, 1, mode="circular"), "mode", "circular"),
        (lambda x: pad2d(x, 1, mode="constant"), "mode", "zeros"),
        (lambda x: pad2d(x, (1, 4), mode="reflect"), "padding", "smaller"),
        (lambda x: pad2d(x, -1), "padding", "non-negative"),
        (lambda x: pad2d(x[0, 0, 0], 1), "x", "at least 2"),
        (lambda x: pad2d(x.astype(np.int32), 1), "x", "int32"),
    ],
)
def test_pad2d_bad_input_raises(call, argument, detail):
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=f"^{argument}:.*{detail}"):
        call(x)


@pytest.mark.parametrize(
    "kernel,stride,padding", [(1, 1, 0), (3, 1, 1), (3, 2, 0), ((5, 3), 1, (2, 1))]
)
def test_repeated_backward_on_one_cache_returns_independent_correct_results(
    kernel, stride, padding
):
    """The backward pass reuses scratch buffers: no result may alias one or change later."""
    rng = np.random.default_rng(7)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, kh, kw))
    b = rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, stride=stride, padding=padding)
    douts = [rng.standard_normal(out.shape) for _ in range(2)]
    first = conv2d_backward(douts[0], cache)
    kept = [g.copy() for g in first]
    second = conv2d_backward(douts[1], cache)
    for name, g1, g1_kept, g2 in zip(("dx", "dw", "db"), first, kept, second, strict=True):
        assert np.array_equal(g1, g1_kept), f"{name} of the first call changed after the second"
        assert not np.shares_memory(g1, g2), f"{name} of both calls share memory"
    # both calls are right, not merely different: autograd is the oracle
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    for dout, grads in zip(douts, (first, second), strict=True):
        expected = torch.autograd.grad(yt, (xt, wt, bt), torch.tensor(dout), retain_graph=True)
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)
