"""The checking helpers themselves: they must pass correct code and name what is wrong."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook import numpy_ref as nr
from cnnbook.testing import (
    assert_close,
    check_numeric_gradients,
    compare_with_torch,
    numeric_gradient,
    rel_error,
)


def test_rel_error_hand_values():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    # ||(1, -1)|| / (1 + 1) = sqrt(2) / 2
    assert rel_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(0.5))
    assert rel_error(3.0, -3.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="^b:"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numeric_gradient_of_known_functions():
    x = np.linspace(-2, 2, 7).reshape(7, 1).astype(np.float32)
    before = x.copy()
    dout = np.arange(7.0).reshape(7, 1)
    grad = numeric_gradient(np.sin, x, dout)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, np.cos(x.astype(np.float64)) * dout, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(x, before)
    # A scalar function: d/dx of sum(x**3) = 3 x**2.
    point = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(
        numeric_gradient(lambda v: (v**3).sum(), point), 3 * point**2, rtol=1e-7
    )
    with pytest.raises(ValueError, match="^dout:"):
        numeric_gradient(np.sin, point)  # an array-valued f needs dout
    with pytest.raises(ValueError, match="^h:"):
        numeric_gradient(np.sin, point, np.ones((2, 2)), h=0)


def test_assert_close_passes_and_reports_the_worst_element():
    expected = np.zeros((2, 3))
    assert assert_close(expected + 1e-12, expected, "output") <= 1e-12
    actual = expected.copy()
    actual[1, 2] = 0.5
    actual[0, 0] = 0.1
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, "gradient dx")
    message = str(info.value)
    assert message.startswith("gradient dx differs")
    assert "max abs error 0.5" in message
    assert "index (1, 2)" in message
    assert "got 0.5, expected 0" in message
    assert "2 of 6 elements" in message
    with pytest.raises(AssertionError, match=r"shape \(3,\) differs"):
        assert_close(np.zeros(3), np.zeros(4), "out")
    with pytest.raises(AssertionError, match="a scalar"):
        assert_close(np.float64(1.0), np.float64(2.0), "loss")


def test_assert_close_float32_tolerance_follows_the_magnitude():
    expected = np.array([1000.0, 0.0], dtype=np.float32)
    assert_close(np.array([1000.0, 5e-3], np.float32), expected, "out")  # 5e-3 < 1e-5 * 1000
    with pytest.raises(AssertionError):
        assert_close(np.array([1000.0, 5e-2], np.float32), expected, "out")


def _conv_inputs(dtype=np.float64):
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal((2, 2, 5, 5)).astype(dtype),
        "w": rng.standard_normal((3, 2, 3, 3)).astype(dtype),
        "b": rng.standard_normal(3).astype(dtype),
    }


def test_compare_with_torch_passes_a_correct_op():
    errors = compare_with_torch(
        nr.conv2d_forward, nr.conv2d_backward, F.conv2d, _conv_inputs(), kwargs={"padding": 1}
    )
    assert set(errors) == {"out", "x", "w", "b"}
    assert max(errors.values()) < 1e-12


def test_compare_with_torch_catches_a_flipped_kernel():
    def flipped_forward(x, w, b):
        return nr.conv2d_forward(x, w[:, :, ::-1, ::-1].copy(), b)

    with pytest.raises(AssertionError, match=r"^flipped_forward: output differs from PyTorch"):
        compare_with_torch(flipped_forward, nr.conv2d_backward, F.conv2d, _conv_inputs())


def test_compare_with_torch_names_the_wrong_gradient():
    def backward_missing_sum(dout, cache):
        dx, dw, db = nr.conv2d_backward(dout, cache)
        return dx, dw, db / 2

    with pytest.raises(AssertionError, match=r"gradient db differs .*index \("):
        compare_with_torch(nr.conv2d_forward, backward_missing_sum, F.conv2d, _conv_inputs())

    def backward_too_few(dout, cache):
        return nr.conv2d_backward(dout, cache)[:2]

    with pytest.raises(AssertionError, match="returned 2 gradient"):
        compare_with_torch(nr.conv2d_forward, backward_too_few, F.conv2d, _conv_inputs())


def test_compare_with_torch_catches_dtype_changes_and_in_place_edits():
    def upcasting_relu(x):
        return nr.relu_forward(x.astype(np.float64))

    x32 = np.random.default_rng(1).standard_normal(5).astype(np.float32)
    with pytest.raises(AssertionError, match="output dtype float64 differs .* float32"):
        compare_with_torch(upcasting_relu, nr.relu_backward, F.relu, {"x": x32})

    def in_place_relu(x):
        np.maximum(x, 0, out=x)
        return x, None

    with pytest.raises(AssertionError, match="input x was modified in place"):
        compare_with_torch(in_place_relu, None, F.relu, {"x": np.array([-1.0, 2.0])})


def test_check_numeric_gradients_catches_a_wrong_backward():
    inputs = {"x": np.random.default_rng(2).standard_normal((2, 3)) + 3.0}
    errors = check_numeric_gradients(nr.tanh_forward, nr.tanh_backward, inputs)
    assert errors["x"] < 1e-8

    def wrong_backward(dout, cache):
        return dout * (1 - cache[1])  # forgot to square

    with pytest.raises(AssertionError, match="gradient dx disagrees with the numeric gradient"):
        check_numeric_gradients(nr.tanh_forward, wrong_backward, inputs)
    with pytest.raises(ValueError, match="float64"):
        check_numeric_gradients(
            nr.tanh_forward, nr.tanh_backward, {"x": inputs["x"].astype(np.float32)}
        )


def test_compare_with_torch_uses_torch_on_the_same_values():
    """A sanity check of the harness: a NumPy op that ignores its input cannot pass."""

    def zeros_forward(x):
        return np.zeros_like(x), None

    x = np.ones((2, 2))
    with pytest.raises(AssertionError, match="got 0, expected 1"):
        compare_with_torch(zeros_forward, None, torch.clone, {"x": x})
