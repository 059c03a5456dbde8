"""Tests of cnnbook.experiments.regularization and the chapter-6 figures built on it.

Oracles: ``cnnbook.training.fit`` itself (where its early stopping really stops), Python's
``statistics`` module, a full-batch SGD loop written out here (with one batch per epoch the batch
order cannot matter), ``models.build_small_cnn``, and closed-form gradient descent on a quadratic.
"""

import statistics

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook import models
from cnnbook.experiments import regularization as E
from cnnbook.training import fit
from cnnbook.viz import regularization as R


# -- early stopping --
@pytest.mark.parametrize(
    ("losses", "patience", "expected"),
    [
        ([3.0, 2.0, 2.5, 2.6, 1.0], 2, (4, 2)),  # two epochs without a new minimum: stop at 4
        ([3.0, 2.0, 2.0, 1.5], 1, (3, 2)),  # equal is not an improvement
        ([3.0, 2.0, 1.0], 2, (3, 3)),  # never fires: the last epoch, the best kept
    ],
)
def test_early_stop_epochs_by_hand(losses, patience, expected):
    assert E.early_stop_epochs(losses, patience) == expected


def test_early_stop_epochs_agrees_with_fit(toy_images, make_dl):
    X, y = toy_images(48)
    Xv, yv = toy_images(24, seed=1)
    runs = {}
    for patience in (None, 2):
        torch.manual_seed(0)
        model = models.build_small_cnn(3)
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)  # large: a bumpy curve
        runs[patience] = fit(
            model,
            make_dl(X, y, 48),
            make_dl(Xv, yv, 24),
            epochs=12,
            optimizer=opt,
            early_stopping_patience=patience,
            device="cpu",
            seed=0,
            progress=False,
        )
    stop, best = E.early_stop_epochs(runs[None].val_loss, 2)
    assert runs[2].epochs == stop
    assert runs[2].best_epoch + 1 == best
    np.testing.assert_allclose(runs[2].val_loss, runs[None].val_loss[:stop])


def test_early_stop_epochs_rejects_bad_input():
    with pytest.raises(ValueError, match="patience"):
        E.early_stop_epochs([1.0], 0)
    with pytest.raises(ValueError, match="val_losses"):
        E.early_stop_epochs([], 1)


# -- summaries --
def test_summarise_matches_statistics():
    values = [0.71, 0.69, 0.74, 0.70]
    s = E.summarise(values)
    assert s["mean"] == pytest.approx(statistics.mean(values))
    assert s["std"] == pytest.approx(statistics.stdev(values))
    assert (s["min"], s["max"], s["n"]) == (0.69, 0.74, 4)
    assert E.summarise([0.5])["std"] == 0.0
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="values"):
            E.summarise(bad)


# -- the network and one run --
def test_small_cnn_with_dropout_has_the_same_weights_and_eval_output():
    torch.manual_seed(0)
    plain = models.build_small_cnn()
    torch.manual_seed(0)
    dropped = E.small_cnn(0.5)
    assert models.count_parameters(dropped) == models.count_parameters(plain) == 54_410
    assert isinstance(dropped[-2], torch.nn.Dropout) and dropped[-2].p == 0.5
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(dropped.eval()(x), plain.eval()(x))
    assert not any(isinstance(m, torch.nn.Dropout) for m in E.small_cnn(0.0))
    with pytest.raises(ValueError, match="dropout"):
        E.small_cnn(1.0)


def _full_batch_sgd(X, y, Xv, yv, *, epochs, lr, weight_decay, seed):
    torch.manual_seed(seed)
    model = models.build_small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    val_losses = []
    for _ in range(epochs):
        model.train()
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val_losses.append(F.cross_entropy(model(Xv), yv).item())
    with torch.no_grad():
        train_acc = (model(X).argmax(1) == y).float().mean().item()
    return val_losses, train_acc


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_train_run_matches_a_hand_written_loop(toy_images, weight_decay):
    X, y = toy_images(32)
    Xv, yv = toy_images(16, seed=1)
    run = E.train_run(
        (X, y),
        (Xv, yv),
        (Xv, yv),
        epochs=3,
        lr=0.05,
        weight_decay=weight_decay,
        batch_size=32,
        seed=0,
    )
    val_losses, train_acc = _full_batch_sgd(
        X, y, Xv, yv, epochs=3, lr=0.05, weight_decay=weight_decay, seed=0
    )
    np.testing.assert_allclose(run["val_loss"], val_losses, rtol=1e-5)
    assert run["train_acc"] == pytest.approx(train_acc)
    assert run["val_loss_final"] == pytest.approx(val_losses[-1], rel=1e-5)
    assert run["test_acc"] == pytest.approx(run["val_acc_final"])  # test = val here
    assert run["epochs_run"] == 3 and 1 <= run["best_epoch"] <= 3


def test_train_run_rejects_bad_settings(toy_images):
    X, y = toy_images(8)
    for kwargs, name in [
        ({"lr": 0}, "lr"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"shift": -1}, "shift"),
        ({"epochs": 0}, "epochs"),
    ]:
        settings = {"epochs": 1, "lr": 0.1, **kwargs}
        with pytest.raises(ValueError, match=name):
            E.train_run((X, y), (X, y), **settings)


# -- the valley --
def test_best_valley_lr_is_the_closed_form_argmin_for_sgd():
    c, steps, window = 30.0, 40, 5
    grid = np.geomspace(1e-3, 0.1, 15)
    best, scores = R.best_valley_lr("SGD", grid, steps=steps, curvature=c, window=window)
    t = np.arange(steps - window + 1, steps + 1)
    with np.errstate(over="ignore"):
        closed = [
            (0.5 * ((4.0 * (1 - lr) ** t) ** 2 + c * (1.5 * (1 - lr * c) ** t) ** 2)).max()
            for lr in grid
        ]
    np.testing.assert_allclose(scores, closed, rtol=1e-9)
    assert scores[-1] > 0.5 * (4.0**2 + c * 1.5**2)  # lr 0.1 > 2 / c: the path diverges
    assert best == grid[int(np.argmin(closed))]


def test_valley_helpers_reject_bad_input_and_plot():
    with pytest.raises(ValueError, match="points"):
        R.valley_loss(np.zeros((3, 3)), 10.0)
    with pytest.raises(ValueError, match="grid"):
        R.best_valley_lr("SGD", [1e3, 1e4], steps=50, curvature=50.0)
    with pytest.raises(ValueError, match="name"):
        R.best_valley_lr("Lion", [0.1])
    paths = R.optimizer_paths({"SGD": 0.01, "Adam": 0.1}, steps=5)
    fig = R.plot_valley_progress(paths, 20.0, {"SGD": 0.01, "Adam": 0.1})
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2


# -- figures of stored runs --
def _fake_runs(acc):
    return [
        {
            "train_acc": acc + d,
            "val_acc_final": acc - 0.1 + d,
            "val_loss_final": 1 + d,
            "val_loss": [2.0, 1.0, 1.5, 1.6, 1.7],
        }
        for d in (-0.01, 0.0, 0.02)
    ]


def test_seed_figures_draw_every_seed():
    fig = R.plot_seed_comparison({"a": _fake_runs(0.9), "b": _fake_runs(0.8)})
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # two settings x two quantities
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sum(len(d.get_xdata()) for d in dots) == 12
    fig = R.plot_weight_decay_sweep([0.0, 0.1, 1.0], [_fake_runs(0.9)] * 3)
    assert len(fig.axes) == 2
    fig = R.plot_early_stopping(_fake_runs(0.9), patience=2)
    crosses = [line for line in fig.axes[0].lines if line.get_marker() == "x"]
    assert [int(c.get_xdata()[0]) for c in crosses[:3]] == [4, 4, 4]
    with pytest.raises(ValueError, match="weight_decays"):
        R.plot_weight_decay_sweep([0.1, 0.0], [_fake_runs(0.9)] * 2)
    with pytest.raises(ValueError, match="runs"):
        R.plot_seed_comparison({"a": [{"train_acc": 1.0}]})
