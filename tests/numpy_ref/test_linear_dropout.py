"""Linear layer, flatten and dropout."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook import numpy_ref as nr
from cnnbook.testing import check_numeric_gradients, compare_with_torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "fan_in", "fan_out"), [(1, 3, 2), (5, 7, 4), (16, 64, 10)])
def test_linear_matches_torch(dtype, n, fan_in, fan_out):
    rng = np.random.default_rng(n)
    inputs = {
        "x": rng.standard_normal((n, fan_in)).astype(dtype),
        "w": rng.standard_normal((fan_out, fan_in)).astype(dtype),
        "b": rng.standard_normal(fan_out).astype(dtype),
    }
    compare_with_torch(nr.linear_forward, nr.linear_backward, F.linear, inputs)


def test_linear_numeric_gradients():
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.standard_normal((3, 4)),
        "w": rng.standard_normal((2, 4)),
        "b": rng.standard_normal(2),
    }
    check_numeric_gradients(nr.linear_forward, nr.linear_backward, inputs)


def test_linear_without_bias():
    x, w = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    out, cache = nr.linear_forward(x, w, None)
    np.testing.assert_array_equal(out, [[3.0, 12.0], [3.0, 12.0]])
    dx, dw, db = nr.linear_backward(np.ones((2, 2)), cache)
    np.testing.assert_array_equal(db, [2.0, 2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flatten_matches_torch(dtype):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(dtype)

    def backward(dout, cache):
        return nr.flatten_backward(dout, x.shape)

    compare_with_torch(nr.flatten, backward, lambda t: torch.flatten(t, 1), {"x": x})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_dropout_is_inverted_dropout_like_torch(dtype, p):
    x = np.random.default_rng(2).uniform(1.0, 2.0, size=(200, 100)).astype(dtype)
    out, cache = nr.dropout_forward(x, p=p, rng=3)
    assert out.dtype == dtype
    # The same scale factors as torch: 0 for dropped elements, 1 / (1 - p) for kept ones.
    ours = np.unique(np.round(out / x, 5))
    expected = F.dropout(torch.from_numpy(x), p=p, training=True).numpy() / x
    np.testing.assert_allclose(ours, np.unique(np.round(expected, 5)), rtol=1e-5)
    # About a fraction p is dropped (20,000 draws: 4 standard deviations is under 0.015).
    assert abs(np.mean(out == 0) - p) < 0.015
    # The mean is preserved in expectation.
    assert abs(out.mean() / x.mean() - 1) < 0.05
    # The backward pass applies the same mask and scale.
    dout = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    dx = nr.dropout_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, dout * (out / x), rtol=1e-5)


def test_dropout_identity_cases_and_seeding():
    x = np.random.default_rng(5).standard_normal((4, 6))
    for kwargs in ({"p": 0.0}, {"p": 0.7, "training": False}):
        out, cache = nr.dropout_forward(x, **kwargs)
        np.testing.assert_array_equal(out, x)
        assert out is not x
        np.testing.assert_array_equal(nr.dropout_backward(x, cache), x)
    out, _ = nr.dropout_forward(x, p=1.0, rng=0)
    np.testing.assert_array_equal(out, np.zeros_like(x))
    a, _ = nr.dropout_forward(x, p=0.5, rng=7)
    b, _ = nr.dropout_forward(x, p=0.5, rng=7)
    np.testing.assert_array_equal(a, b)
    generator = np.random.default_rng(7)
    c, _ = nr.dropout_forward(x, p=0.5, rng=generator)
    d, _ = nr.dropout_forward(x, p=0.5, rng=generator)
    assert not np.array_equal(c, d)  # the generator advanced


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: nr.linear_forward(np.ones((2, 3)), np.ones((4, 2)), None), "w"),
        (lambda: nr.linear_forward(np.ones(3), np.ones((4, 3)), None), "x"),
        (lambda: nr.linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.ones(3)), "b"),
        (lambda: nr.linear_forward(np.ones((2, 3)), np.ones((4, 3), np.float32), None), "w"),
        (lambda: nr.flatten(np.ones(3)), "x"),
        (lambda: nr.flatten_backward(np.ones((2, 5)), (2, 3, 2)), "dout"),
        (lambda: nr.dropout_forward(np.ones(3), p=1.5), "p"),
        (lambda: nr.dropout_forward(np.ones(3), rng="seed"), "rng"),
        (lambda: nr.dropout_forward(np.ones(3), training=1), "training"),
        (lambda: nr.dropout_backward(np.ones(3), None), "cache"),
    ],
)
def test_bad_input_raises(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        call()
