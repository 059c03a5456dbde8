"""cnnbook.landscape: the probes along the gradient, checked on a quadratic loss whose gradient and
curvature are known in closed form, and the stored chapter-5 result re-run in reduced form."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnbook import landscape, results

ROOT = Path(__file__).resolve().parents[1]


def _quadratic(seed=0, n=12, d=5):
    """A bias-free linear model with the loss 0.5 * ||X w - y||^2: gradient X^T (X w - y),
    Hessian A = X^T X, so a step -eta g changes the gradient by exactly -eta A g."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    return model, X, y, lambda out, target: 0.5 * ((out - target) ** 2).sum()


def test_probe_matches_the_closed_form_of_a_quadratic():
    model, X, y, loss_fn = _quadratic()
    w = model.weight.detach().clone().reshape(-1, 1)
    A = X.T @ X
    g = X.T @ (X @ w - y)
    sizes = [0.01, 0.05, 0.2]
    probe = landscape.probe_along_gradient(model, X, y, sizes, loss_fn=loss_fn)
    assert probe["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
    for i, eta in enumerate(sizes):
        w_eta = w - eta * g
        expected_loss = float(0.5 * ((X @ w_eta - y) ** 2).sum())
        assert probe["loss"][i] == pytest.approx(expected_loss, rel=1e-12)
        assert probe["grad_change"][i] == pytest.approx(eta * float((A @ g).norm()), rel=1e-10)
        # on a quadratic the change per unit distance does not depend on the step size
        assert probe["beta"][i] == pytest.approx(float((A @ g).norm() / g.norm()), rel=1e-10)
    # beta never exceeds the largest eigenvalue of the Hessian
    assert probe["beta"].max() <= float(torch.linalg.eigvalsh(A).max()) * (1 + 1e-12)


def test_probe_leaves_weights_buffers_and_modes_as_they_were():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    probe = landscape.probe_along_gradient(model, X, y, [0.1, 1.0])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.modules())
    assert np.all(np.isfinite(probe["loss"])) and probe["grad_change"].shape == (2,)


def test_train_with_probes_takes_plain_sgd_steps_and_probes_before_them():
    torch.manual_seed(0)
    net, twin = nn.Linear(5, 3).double(), nn.Linear(5, 3).double()
    twin.load_state_dict(net.state_dict())
    X, y = torch.randn(40, 5, dtype=torch.float64), torch.randint(0, 3, (40,))
    lr = 0.5
    run = landscape.train_with_probes(
        net, X, y, lr=lr, steps=5, batch_size=40, probe_every=2, step_sizes=[lr, 2 * lr], seed=0
    )
    assert list(run["probe_steps"]) == [0, 2, 4] and run["train_loss"].shape == (5,)
    # full batch: the run is plain gradient descent, replayed here by hand on the twin
    opt = torch.optim.SGD(twin.parameters(), lr=lr)
    for step in range(5):
        loss = nn.functional.cross_entropy(twin(X), y)
        assert run["train_loss"][step] == pytest.approx(float(loss.detach()), rel=1e-12)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    # a probe is taken before the update: its loss at step size lr is the next step's loss
    np.testing.assert_allclose(run["loss0"], run["train_loss"][[0, 2, 4]], rtol=1e-12)
    np.testing.assert_allclose(run["loss"][:2, 0], run["train_loss"][[1, 3]], rtol=1e-12)


def test_summary_and_bad_input():
    run = {
        "loss0": [1.0, 2.0],
        "loss": [[0.5, 3.0], [2.0, 2.5]],
        "grad_change": [[1.0, 4.0], [2.0, 1.0]],
        "beta": [[0.1, 0.3], [0.2, 0.1]],
    }
    s = landscape.summarise_probes(run)
    np.testing.assert_allclose(s["loss_range"], [2.5, 0.5])
    np.testing.assert_allclose(s["grad_change"], [4.0, 2.0])
    np.testing.assert_allclose(s["beta"], [0.3, 0.2])
    with pytest.raises(ValueError, match="missing keys"):
        landscape.summarise_probes({"loss": []})
    model, X, y, loss_fn = _quadratic()
    with pytest.raises(ValueError, match="step_sizes"):
        landscape.probe_along_gradient(model, X, y, [0.1, -1.0], loss_fn=loss_fn)
    with pytest.raises(ValueError, match="model"):
        landscape.probe_along_gradient("net", X, y, [0.1])
    with pytest.raises(ValueError, match="lr"):
        landscape.train_with_probes(model, X, y, lr=0.0, steps=3)
    with pytest.raises(ValueError, match="batch_size"):
        landscape.train_with_probes(model, X, y, lr=0.1, steps=3, batch_size=100)


def _script():
    path = ROOT / "scripts" / "experiments" / "bn_landscape.py"
    spec = importlib.util.spec_from_file_location("bn_landscape", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_stored_bn_landscape_result_is_reproduced():
    """Re-run seed 0 of both networks for 41 steps at one learning rate and compare the first
    three probes with the stored result (float32 training: agreement to a few per cent)."""
    stored = results.load("bn_landscape")
    config = dict(stored["data"]["config"], steps=41, seeds=[0], lrs=[0.1])
    torch.set_num_threads(1)
    rerun = _script().run(config)
    for label, by_lr in rerun.items():
        new, old = by_lr["0.1"][0], stored["data"]["runs"][label]["0.1"][0]
        np.testing.assert_allclose(new["train_loss"], old["train_loss"][:41], rtol=0.02, atol=1e-3)
        for key in ("loss0", "grad_norm"):
            np.testing.assert_allclose(new[key], old[key][:3], rtol=0.02)
        for key in ("loss", "grad_change", "beta"):
            np.testing.assert_allclose(np.array(new[key]), np.array(old[key])[:3], rtol=0.05)
