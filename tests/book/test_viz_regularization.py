"""Tests of cnnbook.viz.regularization: chapter 6's comparisons of training runs.

Oracles: autograd of ``torch.nn.functional.conv2d``, closed-form gradient descent on a quadratic,
Adam written out by hand, brute-force search over shifts, the closed forms of the schedules, and
full-batch training loops written out in the test (with one batch per epoch, the batch order
cannot matter).
"""

import re

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnbook.training import History
from cnnbook.viz import regularization as R


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3))


def _tiny_data(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    X = 0.2 * torch.rand(n, 1, 8, 8, generator=g)
    for i in range(n):  # the class is the row of a bright bar
        X[i, 0, 1 + 2 * int(y[i]), 1:7] += 1.0
    return X, y


# -- the gradient of a kernel --
@pytest.mark.parametrize(
    ("n", "c_in", "c_out", "h", "w", "k"), [(2, 3, 4, 6, 5, 3), (1, 1, 2, 4, 4, 1)]
)
def test_kernel_gradient_matches_autograd(n, c_in, c_out, h, w, k):
    g = torch.Generator().manual_seed(n * 10 + k)
    x = torch.randn(n, c_in, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    dout = torch.randn(n, c_out, h - k + 1, w - k + 1, generator=g, dtype=torch.float64)
    (F.conv2d(x, weight) * dout).sum().backward()
    dw = R.kernel_gradient_by_positions(x, dout, k)
    torch.testing.assert_close(dw, weight.grad, rtol=1e-12, atol=1e-12)


def test_kernel_gradient_rejects_mismatched_dout():
    with pytest.raises(ValueError, match="dout"):
        R.kernel_gradient_by_positions(torch.zeros(1, 1, 5, 5), torch.zeros(1, 2, 4, 4), 3)
    with pytest.raises(ValueError, match="x"):
        R.kernel_gradient_by_positions(torch.zeros(5, 5), torch.zeros(1, 2, 3, 3), 3)


# -- optimisers --
def test_sgd_path_is_the_closed_form():
    lr, c, steps = 0.04, 20.0, 10
    path = R.optimizer_paths({"SGD": lr}, steps=steps, start=(-4.0, 1.5), curvature=c)["SGD"]
    t = np.arange(steps + 1)
    np.testing.assert_allclose(path[:, 0], -4.0 * (1 - lr) ** t, rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], 1.5 * (1 - lr * c) ** t, rtol=1e-12)


def test_momentum_and_adam_paths_follow_their_recursions():
    c, steps, lr = 10.0, 8, 0.02
    paths = R.optimizer_paths(
        {"SGD + momentum 0.9": lr, "Adam": lr}, steps=steps, start=(1.0, -2.0), curvature=c
    )
    scale = np.array([1.0, c])
    p, v = np.array([1.0, -2.0]), np.zeros(2)
    expected = [p.copy()]
    for _ in range(steps):
        v = 0.9 * v + scale * p
        p = p - lr * v
        expected.append(p.copy())
    np.testing.assert_allclose(paths["SGD + momentum 0.9"], expected, rtol=1e-10)
    p, m, s = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    expected = [p.copy()]
    for t in range(1, steps + 1):
        grad = scale * p
        m = 0.9 * m + 0.1 * grad
        s = 0.999 * s + 0.001 * grad**2
        p = p - lr * (m / (1 - 0.9**t)) / (np.sqrt(s / (1 - 0.999**t)) + 1e-8)
        expected.append(p.copy())
    np.testing.assert_allclose(paths["Adam"], expected, rtol=1e-8)


def test_optimizer_paths_reject_unknown_names_and_plot():
    with pytest.raises(ValueError, match="lrs"):
        R.optimizer_paths({"Lion": 0.1})
    fig = R.plot_optimizer_paths(R.optimizer_paths({"SGD": 0.05, "Adam": 0.3}, steps=5))
    assert len(fig.axes[0].lines) == 3  # two paths and the minimum


# -- learning rates --
def test_step_losses_match_full_batch_gradient_descent():
    X, y = _tiny_data()
    lr, steps = 0.3, 4
    curves = R.step_losses(_tiny_model, (X, y), [lr], steps=steps, batch_size=len(X), seed=3)
    torch.manual_seed(3)
    model = _tiny_model()
    expected = []
    for _ in range(steps):
        loss = F.cross_entropy(model(X), y)
        expected.append(loss.item())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    np.testing.assert_allclose(curves[lr], expected, rtol=1e-5)


def test_step_losses_start_equal_and_a_huge_rate_diverges():
    X, y = _tiny_data()
    curves = R.step_losses(_tiny_model, (X, y), [0.01, 1e4], steps=12, batch_size=8)
    assert curves[0.01][0] == pytest.approx(curves[1e4][0])  # same weights, same first batch
    assert np.isfinite(curves[0.01]).all()
    assert np.isnan(curves[1e4]).any() or curves[1e4][-1] > 10 * curves[1e4][0]
    fig = R.plot_step_losses({f"lr {k:g}": v for k, v in curves.items()})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["lr 0.01", "lr 10000 (diverged)"]


def test_clipping_bounds_the_first_update():
    X, y = _tiny_data()
    lr, clip = 1.0, 0.01
    curves = R.step_losses(_tiny_model, (X, y), [lr], steps=2, batch_size=len(X), clip_norm=clip)
    torch.manual_seed(0)
    model = _tiny_model()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p -= lr * g * min(1.0, clip / (norm.item() + 1e-6))
    np.testing.assert_allclose(curves[lr][1], F.cross_entropy(model(X), y).item(), rtol=1e-5)


def test_step_losses_reject_bad_arguments():
    X, y = _tiny_data()
    with pytest.raises(ValueError, match="train"):
        R.step_losses(_tiny_model, (X[0], y), [0.1])
    with pytest.raises(ValueError, match="lrs"):
        R.step_losses(_tiny_model, (X, y), [])
    with pytest.raises(ValueError, match="lrs"):
        R.step_losses(_tiny_model, (X, y), [-1.0])


def test_lr_schedules_closed_forms():
    epochs, lr = 9, 0.1
    s = R.lr_schedules(epochs, lr, monitored_losses=[5, 4, 3, 3, 3, 3, 3, 3, 3])
    t = np.arange(epochs)
    np.testing.assert_allclose(s["constant"], lr)
    np.testing.assert_allclose(s["step (x0.1 every third)"], lr * 0.1 ** (t // 3), rtol=1e-12)
    np.testing.assert_allclose(s["cosine"], lr * (1 + np.cos(np.pi * t / epochs)) / 2, atol=1e-12)
    # the loss stops improving after epoch 3 (index 2); patience 2 allows two more stale epochs,
    # the third stale one (index 5) cuts the rate, which the next epoch (index 6) uses
    plateau = s["reduce on plateau"]
    np.testing.assert_allclose(plateau[:6], lr)
    assert plateau[6] == pytest.approx(lr * 0.1)
    with pytest.raises(ValueError, match="monitored_losses"):
        R.lr_schedules(3, 0.1, monitored_losses=[1.0])
    fig = R.plot_lr_schedules(s, monitored_losses=[5, 4, 3, 3, 3, 3, 3, 3, 3])
    assert len(fig.axes) == 2


# -- augmentation --
def test_random_shift_moves_each_image_by_some_offset_in_range():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(12, 2, 7, 6, generator=g) + 0.1  # no zero pixel: every offset is identifiable
    before = X.clone()
    s = 2
    out = R.random_shift(X, s, torch.Generator().manual_seed(5))
    torch.testing.assert_close(X, before)  # the input is untouched
    assert out.shape == X.shape and out.dtype == X.dtype
    found = set()
    for n in range(len(X)):
        matches = []
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                expected = torch.zeros_like(X[n])
                ys, yd = slice(max(0, -dy), 7 - max(0, dy)), slice(max(0, dy), 7 - max(0, -dy))
                xs, xd = slice(max(0, -dx), 6 - max(0, dx)), slice(max(0, dx), 6 - max(0, -dx))
                expected[:, yd, xd] = X[n][:, ys, xs]
                if torch.equal(out[n], expected):
                    matches.append((dy, dx))
        assert len(matches) == 1, f"image {n} is not a shifted copy"
        found.add(matches[0])
    assert len(found) > 3  # the offsets vary from image to image


def test_random_shift_zero_is_a_copy_and_bad_input_raises():
    X = torch.rand(2, 1, 4, 4)
    out = R.random_shift(X, 0)
    assert torch.equal(out, X) and out is not X
    with pytest.raises(ValueError, match="max_shift"):
        R.random_shift(X, -1)
    with pytest.raises(ValueError, match="X"):
        R.random_shift(X[0], 1)


def test_shifted_loader_keeps_labels_and_length():
    X, y = _tiny_data(10)
    batches = [(X[:6], y[:6]), (X[6:], y[6:])]
    loader = R.ShiftedLoader(batches, 1, seed=0)
    out = list(loader)
    assert len(loader) == 2
    assert [torch.equal(a[1], b[1]) for a, b in zip(out, batches, strict=True)] == [True, True]
    assert not torch.equal(torch.cat([o[0] for o in out]), X)


# -- over- and under-fitting --
def _manual_full_batch(X, y, Xv, yv, wd, epochs, lr, momentum):
    torch.manual_seed(0)
    model = _tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    losses, val_acc = [], []
    for _ in range(epochs):
        model.train()
        loss = F.cross_entropy(model(X), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val_acc.append((model(Xv).argmax(1) == yv).float().mean().item())
    return losses, val_acc


def test_regularization_sweep_matches_a_hand_written_loop():
    X, y = _tiny_data(24)
    Xv, yv = _tiny_data(12, seed=1)
    runs = R.regularization_sweep(
        _tiny_model,
        (X, y),
        (Xv, yv),
        weight_decays=(0.0, 0.5),
        shifts=(0,),
        epochs=3,
        lr=0.1,
        batch_size=len(X),
    )
    assert list(runs) == [(0.0, 0), (0.5, 0)]
    for (wd, _), history in runs.items():
        losses, val_acc = _manual_full_batch(X, y, Xv, yv, wd, 3, 0.1, 0.9)
        np.testing.assert_allclose(history.train_loss, losses, rtol=1e-5)
        np.testing.assert_allclose(history.val_acc, val_acc)
    assert runs[(0.0, 0)].train_loss[-1] != runs[(0.5, 0)].train_loss[-1]


def test_regularization_sweep_rejects_bad_settings():
    X, y = _tiny_data(6)
    with pytest.raises(ValueError, match="weight_decays"):
        R.regularization_sweep(_tiny_model, (X, y), (X, y), weight_decays=(-1.0,), epochs=1)
    with pytest.raises(ValueError, match="shifts"):
        R.regularization_sweep(_tiny_model, (X, y), (X, y), shifts=(1.5,), epochs=1)
    with pytest.raises(ValueError, match="val"):
        R.regularization_sweep(_tiny_model, (X, y), (X, y[:2]), epochs=1)


def _history(train, val):
    h = History()
    h.train_acc, h.val_acc = list(train), list(val)
    h.train_loss = [1 - a + 0.01 for a in train]
    h.val_loss = [1 - a + 0.01 for a in val]
    return h


def test_plot_fit_gap_has_one_panel_per_run():
    fig = R.plot_fit_gap(
        {"a": _history([0.5, 0.9], [0.4, 0.6]), "b": _history([0.3, 0.5], [0.3, 0.5])}
    )
    assert len(fig.axes) == 2
    assert "train 90%, val 60%" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="histories"):
        R.plot_fit_gap({})


def test_regularization_explorer_is_self_contained_and_names_the_regime():
    runs = {
        (0.0, 0): _history([0.6, 1.0], [0.5, 0.6]),  # over-fitting
        (0.1, 0): _history([0.2, 0.3], [0.2, 0.3]),  # under-fitting
        (0.0, 2): _history([0.6, 0.85], [0.6, 0.8]),
        (0.1, 2): _history([0.2, 0.25], [0.2, 0.25]),
    }
    explorer = R.regularization_explorer(runs, dpi=30)
    page = explorer.to_html()
    assert not re.search(r"https?://", page)
    assert page.count("data:image/png") <= 1  # images are stored once, referenced by the script
    frames = explorer.frames()
    assert len(frames) == 4
    captions = {k: f.caption for k, f in frames.items()}
    assert "over-fitting" in captions[(0, 0)] and "100.0%" in captions[(0, 0)]
    assert "under-fitting" in captions[(1, 0)]
    assert "balance" in captions[(0, 1)]
    with pytest.raises(ValueError, match="missing"):
        R.regularization_explorer({(0.0, 0): runs[(0.0, 0)], (0.1, 2): runs[(0.1, 2)]})
