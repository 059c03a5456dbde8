"""Softmax cross-entropy and SGD with momentum against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.numpy_ref import sgd_momentum_step, softmax_cross_entropy
from cnnbook.testing import assert_close, numeric_gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k", "scale"), [(1, 2, 1.0), (8, 10, 3.0), (5, 3, 1000.0)])
def test_cross_entropy_matches_torch(dtype, n, k, scale):
    rng = np.random.default_rng(n)
    logits = (rng.standard_normal((n, k)) * scale).astype(dtype)
    y = rng.integers(0, k, size=n)
    before = logits.copy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = softmax_cross_entropy(logits, y)
    t = torch.from_numpy(logits.copy()).requires_grad_()
    expected = F.cross_entropy(t, torch.from_numpy(y))
    expected.backward()
    assert loss.dtype == dlogits.dtype == dtype
    assert np.isfinite(loss)
    assert_close(loss, expected.detach().numpy(), "loss")
    assert_close(dlogits, t.grad.numpy(), "dlogits")
    np.testing.assert_array_equal(logits, before)


def test_cross_entropy_numeric_gradient_and_hand_value():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((4, 5)), np.array([0, 4, 2, 2])
    _, dlogits = softmax_cross_entropy(logits, y)
    numeric = numeric_gradient(lambda z: softmax_cross_entropy(z, y)[0], logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)
    loss, _ = softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert loss == pytest.approx(np.log(4.0))  # uniform over 4 classes


@pytest.mark.parametrize(
    ("logits", "y", "argument"),
    [
        (np.zeros(3), np.array([0]), "logits"),
        (np.zeros((2, 3), np.int64), np.array([0, 1]), "logits"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "y"),
        (np.zeros((2, 3)), [0, 1], "y"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "y"),
        (np.zeros((2, 3)), np.array([0, 3]), "y"),
        (np.zeros((2, 3)), np.array([-1, 0]), "y"),
    ],
)
def test_cross_entropy_bad_input(logits, y, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        softmax_cross_entropy(logits, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("lr", "momentum", "weight_decay"), [(0.1, 0.9, 0.0), (0.05, 0.5, 1e-2), (0.2, 0.0, 0.0)]
)
def test_sgd_follows_torch_for_several_steps(dtype, lr, momentum, weight_decay):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    grads_per_step = [
        [rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(5)
    ]
    torch_params = [torch.from_numpy(p.copy()).requires_grad_() for p in params]
    optimizer = torch.optim.SGD(torch_params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    velocities = [np.zeros_like(p) for p in params]
    for grads in grads_per_step:
        before = [a.copy() for a in params + grads + velocities]
        new_params, new_velocities = sgd_momentum_step(
            params, grads, velocities, lr, momentum=momentum, weight_decay=weight_decay
        )
        for a, b in zip(params + grads + velocities, before, strict=True):
            np.testing.assert_array_equal(a, b)  # inputs untouched
        params, velocities = new_params, new_velocities
        for t, g in zip(torch_params, grads, strict=True):
            t.grad = torch.from_numpy(g.copy())
        optimizer.step()
        for i, (ours, t) in enumerate(zip(params, torch_params, strict=True)):
            assert ours.dtype == dtype
            assert_close(ours, t.detach().numpy(), f"params[{i}]", rtol=1e-6, atol=1e-6)


def test_sgd_first_step_with_none_equals_zero_velocities():
    p, g = [np.array([1.0, -2.0])], [np.array([0.5, 0.5])]
    a = sgd_momentum_step(p, g, None, lr=0.1)
    b = sgd_momentum_step(p, g, [np.zeros(2)], lr=0.1)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[0][0], [0.95, -2.05])  # p - lr * g, worked by hand


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"grads": [np.ones(2)]}, "grads"),
        ({"velocities": [np.ones(2), np.ones(2)]}, r"velocities\[0\]"),
        ({"grads": [np.ones(3, np.float32), np.ones(2)]}, r"grads\[0\]"),
        ({"params": np.ones((2, 3))}, "params"),
        ({"lr": -0.1}, "lr"),
        ({"momentum": -0.9}, "momentum"),
        ({"weight_decay": "0"}, "weight_decay"),
    ],
)
def test_sgd_bad_input(kwargs, argument):
    args = {
        "params": [np.ones(3), np.ones(2)],
        "grads": [np.ones(3), np.ones(2)],
        "velocities": None,
        "lr": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"^{argument}:"):
        sgd_momentum_step(**args)
