"""Batch normalisation against torch.nn.functional.batch_norm."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.numpy_ref import batchnorm2d_backward, batchnorm2d_forward
from cnnbook.testing import check_numeric_gradients, compare_with_torch

SHAPES = [(4, 3, 5, 5), (2, 1, 3, 7), (8, 5, 2, 3), (1, 2, 4, 4)]


def _inputs(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return {
        "x": (rng.standard_normal(shape) * 2 + 3).astype(dtype),
        "gamma": rng.standard_normal(c).astype(dtype),
        "beta": rng.standard_normal(c).astype(dtype),
        "running_mean": rng.standard_normal(c).astype(dtype),
        "running_var": rng.uniform(0.5, 2.0, c).astype(dtype),
    }


def _torch_bn(training, momentum, eps):
    def reference(x, gamma, beta, running_mean, running_var):
        return F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)

    return reference


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_matches_torch(training, shape, dtype):
    inputs = _inputs(shape, dtype, seed=len(shape) + shape[0])
    momentum, eps = 0.1, 1e-5
    compare_with_torch(
        batchnorm2d_forward,
        batchnorm2d_backward,
        _torch_bn(training, momentum, eps),
        inputs,
        grad_of=["x", "gamma", "beta"],
        kwargs={"training": training, "momentum": momentum, "eps": eps},
        torch_kwargs={},
    )


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("momentum", "eps"), [(0.1, 1e-5), (0.5, 1e-3), (0.0, 1e-5), (1.0, 0.1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_estimates_match_torch(training, momentum, eps, dtype):
    inputs = _inputs((6, 3, 4, 5), dtype, seed=3)
    copies = {k: v.copy() for k, v in inputs.items()}
    _, _, new_mean, new_var = batchnorm2d_forward(
        *inputs.values(), training=training, momentum=momentum, eps=eps
    )
    rm = torch.from_numpy(inputs["running_mean"].copy())
    rv = torch.from_numpy(inputs["running_var"].copy())
    F.batch_norm(
        torch.from_numpy(inputs["x"]),
        rm,
        rv,
        torch.from_numpy(inputs["gamma"]),
        torch.from_numpy(inputs["beta"]),
        training,
        momentum,
        eps,
    )
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    assert new_mean.dtype == new_var.dtype == dtype
    np.testing.assert_allclose(new_mean, rm.numpy(), **tol)
    np.testing.assert_allclose(new_var, rv.numpy(), **tol)
    for name, value in inputs.items():  # running stats included: untouched
        np.testing.assert_array_equal(value, copies[name])


def test_training_uses_biased_variance_and_running_uses_unbiased():
    x = np.array([1.0, 3.0]).reshape(2, 1, 1, 1)  # mean 2, biased var 1, unbiased var 2
    one, zero = np.ones(1), np.zeros(1)
    out, _, rm, rv = batchnorm2d_forward(x, one, zero, zero, one, True, momentum=1.0, eps=1e-12)
    np.testing.assert_allclose(out.ravel(), [-1.0, 1.0], rtol=1e-9)
    np.testing.assert_allclose(rm, [2.0])
    np.testing.assert_allclose(rv, [2.0])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_numeric_gradients(training):
    inputs = _inputs((3, 2, 3, 2), np.float64, seed=7)
    check_numeric_gradients(
        batchnorm2d_forward,
        batchnorm2d_backward,
        inputs,
        grad_of=["x", "gamma", "beta"],
        kwargs={"training": training},
    )


def _args(**overrides):
    args = _inputs((2, 3, 4, 4), np.float64, seed=0)
    args.update(training=True)
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"x": np.zeros((2, 3, 4))}, "x"),
        ({"x": np.zeros((2, 3, 4, 4), np.int64)}, "x"),
        ({"gamma": np.ones(2)}, "gamma"),
        ({"beta": np.ones((3, 1))}, "beta"),
        ({"running_mean": np.zeros(3, np.float32)}, "running_mean"),
        ({"running_var": None}, "running_var"),
        ({"training": "yes"}, "training"),
        ({"momentum": 1.5}, "momentum"),
        ({"eps": 0.0}, "eps"),
        ({"x": np.zeros((1, 3, 1, 1))}, "x"),
    ],
)
def test_bad_input_raises(overrides, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        batchnorm2d_forward(**_args(**overrides))


def test_backward_bad_dout_raises():
    out, cache, _, _ = batchnorm2d_forward(**_args())
    with pytest.raises(ValueError, match="^dout:"):
        batchnorm2d_backward(out[:1], cache)
    with pytest.raises(ValueError, match="^cache:"):
        batchnorm2d_backward(out, (out,))
