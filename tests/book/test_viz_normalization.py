"""Tests of cnnbook.viz.normalization: chapter 5's small experiments, figures and explorer.

Oracles: the running-average recursion written out in NumPy, closed-form variances of dropout,
and a hand-differentiated linear model.
"""

import base64
import json
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from cnnbook.viz import normalization as N


def _population(n=256, c=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shift = torch.tensor([2.0, -1.0, 0.5]).view(1, c, 1, 1)
    scale = torch.tensor([3.0, 0.5, 1.0]).view(1, c, 1, 1)
    return torch.randn(n, c, 4, 4, generator=gen, dtype=torch.float64) * scale + shift


@pytest.mark.parametrize(("batch_size", "momentum"), [(4, 0.1), (16, 0.5), (2, 1.0)])
def test_running_stats_follow_the_momentum_recursion(batch_size, momentum):
    x = _population()
    steps = 7
    tr = N.running_stats_trace(x, batch_size, momentum, steps, seed=5)
    # Redo the recursion by hand with the same batches.
    gen = torch.Generator().manual_seed(5)
    xs = x.numpy()
    mean, var = np.zeros(3), np.ones(3)
    np.testing.assert_allclose(tr["mean"][0], mean)
    np.testing.assert_allclose(tr["var"][0], var)
    for t in range(1, steps + 1):
        batch = xs[torch.randperm(len(xs), generator=gen)[:batch_size].numpy()]
        vals = batch.transpose(1, 0, 2, 3).reshape(3, -1)
        mean = (1 - momentum) * mean + momentum * vals.mean(axis=1)
        var = (1 - momentum) * var + momentum * vals.var(axis=1, ddof=1)
        np.testing.assert_allclose(tr["mean"][t], mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(tr["var"][t], var, rtol=1e-10)
    np.testing.assert_allclose(tr["true_mean"], xs.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(tr["true_var"], xs.var(axis=(0, 2, 3)))


def test_running_stats_converge_to_the_population():
    x = _population(n=512)
    tr = N.running_stats_trace(x, 64, 0.1, 150)
    error = np.abs(tr["mean"][-1] - tr["true_mean"])
    assert np.all(error < 0.1 * np.sqrt(tr["true_var"]))
    np.testing.assert_allclose(tr["var"][-1], tr["true_var"], rtol=0.1)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 10_000}, "batch_size"),
        ({"momentum": 0.0}, "momentum"),
        ({"momentum": 1.5}, "momentum"),
        ({"steps": 0}, "steps"),
    ],
)
def test_running_stats_reject_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        N.running_stats_trace(_population(), **kwargs)


def test_running_stats_reject_non_nchw():
    with pytest.raises(ValueError, match="x"):
        N.running_stats_trace(torch.zeros(8, 3))
    with pytest.raises(ValueError, match="x"):
        N.running_stats_trace(torch.zeros(8, 3, 2, 2, dtype=torch.int64))


def test_dropout_before_bn_shrinks_eval_outputs_as_the_variances_predict():
    # One channel with mean mu and std s. Inverted dropout keeps x / (1 - p) with prob. 1 - p, so
    # in training E[y] = mu and Var[y] = (s^2 + mu^2) / (1 - p) - mu^2. BN learns that variance
    # and at evaluation divides the plain x (variance s^2) by its square root.
    mu, s, p = 1.0, 2.0, 0.5
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 1, 4, 4, generator=gen, dtype=torch.float64) * s + mu
    train_var = (s**2 + mu**2) / (1 - p) - mu**2
    predicted = s / np.sqrt(train_var)
    before = N.dropout_bn_eval_std(x, p, dropout_first=True, steps=100, batch_size=128)
    after = N.dropout_bn_eval_std(x, p, dropout_first=False, steps=100, batch_size=128)
    assert before == pytest.approx(predicted, rel=0.05)
    assert after == pytest.approx(1.0, rel=0.03)
    assert N.dropout_bn_eval_std(x, 0.0, dropout_first=True, steps=100) == pytest.approx(
        1.0, rel=0.03
    )
    with pytest.raises(ValueError, match="p"):
        N.dropout_bn_eval_std(x, 1.0)


def test_dropout_bn_eval_std_leaves_the_global_generator_alone():
    x = _population()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    N.dropout_bn_eval_std(x, 0.5, steps=5, batch_size=8)
    assert torch.equal(torch.rand(3), expected)


def test_figures_reject_bad_input():
    tr = N.running_stats_trace(_population(), 8, 0.1, 3)
    with pytest.raises(ValueError, match="channel"):
        N.plot_running_stats({"a": tr}, channel=3)
    with pytest.raises(ValueError, match="out_eval"):
        N.plot_train_vs_eval(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="histories"):
        N.plot_learning_curves({"a": object()})
    with pytest.raises(ValueError, match="channels"):
        N.plot_bn_distributions(_population(), _population(), channels=(5,))


def test_explorer_html_is_self_contained_and_has_every_frame():
    ex = N.running_stats_explorer(
        _population(), batch_sizes=(4, 16), momentums=(0.1, 0.9), steps=20
    )
    html = ex.to_html()
    assert not re.search(r"https?://", html)
    payload = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    frames = json.loads(payload.group(1))["frames"]
    assert len(frames) == 4  # every (batch size, momentum) pair is precomputed
    images = json.loads(payload.group(1))["images"]
    assert all(base64.b64decode(png).startswith(b"\x89PNG") for png in images)
    assert all("running mean off by" in caption for _, caption in frames.values())
    with pytest.raises(ValueError, match="batch_sizes"):
        N.running_stats_explorer(_population(), batch_sizes=(1,))


def test_learning_curves_with_seeds_draw_the_mean_and_a_band():

    import matplotlib.pyplot as plt

    runs = [
        SimpleNamespace(train_loss=[2.0, 1.0], val_acc=[0.2, 0.6]),
        SimpleNamespace(train_loss=[4.0, 3.0], val_acc=[0.4, 0.8]),
    ]
    fig = N.plot_learning_curves({"net": runs})
    ax_loss, ax_acc = fig.axes
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), [3.0, 2.0])
    np.testing.assert_allclose(ax_acc.lines[0].get_ydata(), [0.3, 0.7])
    assert len(ax_loss.collections) == 1  # the min-max band
    plt.close(fig)
    with pytest.raises(ValueError, match="different numbers of epochs"):
        N.plot_learning_curves({"net": [runs[0], SimpleNamespace(train_loss=[1.0], val_acc=[0.1])]})


def test_probe_metrics_plot_mean_over_seeds_and_checks_shapes():

    values = np.array([[1.0, 2.0, 4.0], [3.0, 4.0, 8.0]])
    fig = N.plot_probe_metrics([0, 10, 20], {"beta": {"BN": values}})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [2.0, 3.0, 6.0])
    plt.close(fig)
    with pytest.raises(ValueError, match="expected shape"):
        N.plot_probe_metrics([0, 10], {"beta": {"BN": values}})
