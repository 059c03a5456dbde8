"""Activations and softmax against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook import numpy_ref as nr
from cnnbook.testing import check_numeric_gradients, compare_with_torch

PAIRS = [
    (nr.relu_forward, nr.relu_backward, F.relu, {}),
    (nr.leaky_relu_forward, nr.leaky_relu_backward, F.leaky_relu, {}),
    (nr.leaky_relu_forward, nr.leaky_relu_backward, F.leaky_relu, {"negative_slope": 0.2}),
    (nr.leaky_relu_forward, nr.leaky_relu_backward, F.leaky_relu, {"negative_slope": -1.5}),
    (nr.sigmoid_forward, nr.sigmoid_backward, torch.sigmoid, {}),
    (nr.tanh_forward, nr.tanh_backward, torch.tanh, {}),
]
IDS = ["relu", "leaky", "leaky0.2", "leaky-1.5", "sigmoid", "tanh"]


def _away_from_zero(rng, shape, dtype):
    """Values with |x| >= 0.05 so a numeric step never crosses the kink at 0."""
    x = rng.standard_normal(shape)
    return (np.sign(x) * (0.05 + np.abs(x))).astype(dtype)


@pytest.mark.parametrize(("forward", "backward", "torch_fn", "kwargs"), PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 5)])
def test_activation_matches_torch(forward, backward, torch_fn, kwargs, dtype, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype) * 3
    compare_with_torch(forward, backward, torch_fn, {"x": x}, kwargs=kwargs)


@pytest.mark.parametrize(("forward", "backward", "torch_fn", "kwargs"), PAIRS, ids=IDS)
def test_activation_numeric_gradient(forward, backward, torch_fn, kwargs):
    x = _away_from_zero(np.random.default_rng(0), (2, 3, 4), np.float64)
    check_numeric_gradients(forward, backward, {"x": x}, kwargs=kwargs)


def test_relu_and_leaky_relu_at_exact_zero_follow_torch():
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    compare_with_torch(nr.relu_forward, nr.relu_backward, F.relu, {"x": x})
    compare_with_torch(nr.leaky_relu_forward, nr.leaky_relu_backward, F.leaky_relu, {"x": x})


def test_sigmoid_and_tanh_saturate_without_overflow():
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    with np.errstate(all="raise"):
        s, _ = nr.sigmoid_forward(x)
        t, _ = nr.tanh_forward(x)
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(t, [-1.0, -1.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_matches_torch(axis, dtype):
    logits = np.random.default_rng(1).standard_normal((4, 6, 3)).astype(dtype) * 5
    compare_with_torch(
        nr.softmax,
        None,
        torch.softmax,
        {"logits": logits},
        kwargs={"axis": axis},
        torch_kwargs={"dim": axis},
    )


def test_softmax_is_stable_for_large_logits():
    logits = np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -1002.0]], dtype=np.float32)
    with np.errstate(all="raise"):
        probs = nr.softmax(logits)
    expected = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: nr.relu_forward(np.arange(3)), "x"),
        (lambda: nr.sigmoid_forward([1.0, 2.0]), "x"),
        (lambda: nr.leaky_relu_forward(np.ones(3), negative_slope="0.1"), "negative_slope"),
        (lambda: nr.softmax(np.ones(3), axis=1), "axis"),
        (lambda: nr.softmax(np.array(1.0)), "logits"),
        (lambda: nr.relu_backward(np.ones(2), nr.relu_forward(np.ones(3))[1]), "dout"),
        (
            lambda: nr.relu_backward(np.ones(3, np.float32), nr.relu_forward(np.ones(3))[1]),
            "dout",
        ),
        (lambda: nr.tanh_backward(np.ones(3), nr.relu_forward(np.ones(3))[1]), "cache"),
    ],
)
def test_bad_input_raises(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        call()
