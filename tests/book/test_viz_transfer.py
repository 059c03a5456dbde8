"""Tests of cnnbook.viz.transfer: chapter 7's experiment grid, batch-norm drift, figures, explorer.

Oracles: a stand-in experiment whose accuracies are a known function of size and seed, the
running-mean recursion of batch norm written out for constant images (where every batch mean is
known exactly), and hand-picked numbers for the explorer's captions.
"""

import re

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
from torch import nn

import cnnbook.transfer
from cnnbook.viz import transfer as T

SIZES = [2, 8, 32]
RESULTS = {  # accuracies (size x seed), picked so that the best strategy changes with the size
    "scratch": np.array([[0.20, 0.22], [0.40, 0.42], [0.80, 0.84]]),
    "feature_extraction": np.array([[0.60, 0.62], [0.70, 0.72], [0.75, 0.77]]),
    "fine_tuning": np.array([[0.50, 0.52], [0.75, 0.77], [0.90, 0.92]]),
}


# -- the grid of experiments --
def test_transfer_curves_fill_one_cell_per_size_and_seed(monkeypatch):
    calls = []

    def fake(n_per_class, seed=0, **kwargs):
        calls.append((n_per_class, seed, kwargs))
        return {"scratch": n_per_class / 100 + seed / 1000, "fine_tuning": 0.5 + seed / 10}

    monkeypatch.setattr(cnnbook.transfer, "transfer_experiment", fake)
    out = T.transfer_curves([4, 16], seeds=[0, 3], max_steps=7)
    assert [c[:2] for c in calls] == [(4, 0), (4, 3), (16, 0), (16, 3)]
    assert all(c[2] == {"max_steps": 7} for c in calls)
    np.testing.assert_allclose(out["scratch"], [[0.04, 0.043], [0.16, 0.163]])
    np.testing.assert_allclose(out["fine_tuning"], [[0.5, 0.8], [0.5, 0.8]])


def test_transfer_curves_reject_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        T.transfer_curves([])
    with pytest.raises(ValueError, match="sizes"):
        T.transfer_curves([0, 4])


# -- figures and explorer --
def test_plot_transfer_curves_draws_means_and_chance():
    fig = T.plot_transfer_curves(SIZES, RESULTS)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # three strategies and the chance line
    np.testing.assert_allclose(lines[0].get_ydata(), RESULTS["scratch"].mean(axis=1))
    np.testing.assert_allclose(lines[0].get_xdata(), SIZES)
    assert ax.get_xscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "from scratch" and legend[-1] == "chance"


def test_plot_transfer_curves_accepts_one_seed_and_rejects_wrong_rows():
    fig = T.plot_transfer_curves(SIZES, {"scratch": [0.1, 0.2, 0.3]}, chance=None)
    assert len(fig.axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="scratch"):
        T.plot_transfer_curves(SIZES, {"scratch": [0.1, 0.2]})
    with pytest.raises(ValueError, match="results"):
        T.plot_transfer_curves(SIZES, {})


def test_transfer_explorer_names_the_best_strategy_at_each_size():
    explorer = T.transfer_explorer(SIZES, RESULTS, dpi=30)
    frames = explorer.frames()
    assert len(frames) == len(SIZES)
    assert explorer.initial == {"n_per_class": 8}
    best = {
        (0,): "feature extraction",
        (1,): "fine-tuning",
        (2,): "fine-tuning",
    }
    for index, name in best.items():
        caption = frames[index].caption
        assert re.search(rf"Best here: <b>{name}", caption), caption
    assert "61.0%" in frames[(0,)].caption  # mean of 0.60 and 0.62
    page = explorer.to_html()
    assert not re.search(r"https?://", page)
    assert 'type="range"' in page


def test_transfer_explorer_does_not_name_a_best_strategy_the_seeds_do_not_separate():
    results = {  # fine-tuning has the higher mean, but its lower run is below extraction's top
        "scratch": np.array([[0.30, 0.34]]),
        "feature_extraction": np.array([[0.50, 0.56]]),
        "fine_tuning": np.array([[0.52, 0.58]]),
    }
    caption = T.transfer_explorer([4], results, dpi=30).frames()[(0,)].caption
    assert "Best here" not in caption
    assert re.search(
        r"Highest mean here: <b>fine-tuning.*overlap those of feature extraction", caption
    )
    assert "scratch" not in caption.split("overlap")[1]  # 0.34 < 0.52: separated
    assert "52.0% to 58.0%" in caption


# -- batch norm in a frozen base --
class _BNNet(nn.Module):
    """Batch norm straight on the input, so its batch statistics are those of the images."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.head = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(x).flatten(1))


def _source_task(n=40):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    X = torch.randn(n, 1, 4, 4, generator=g) * 0.1 + 1.0
    X[y == 1, :, :2] += 1.0  # class 1: bright top half
    return X, y


def _trained_bn_net():
    torch.manual_seed(0)
    net = _BNNet()
    X, y = _source_task()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        net.train()
        loss = nn.functional.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def test_bn_drift_follows_the_running_mean_recursion_and_freeze_stops_it():
    net = _trained_bn_net()
    mu0 = net.bn.running_mean.clone()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    target = torch.full((20, 1, 4, 4), 5.0)  # every batch mean is exactly 5
    res = T.bn_drift(net, target, _source_task(), steps=10, batch_size=4, eval_every=5)
    np.testing.assert_array_equal(res["steps"], [0, 5, 10])
    assert res["layers"] == ["bn"]
    # running = (1 - m) * running + m * 5 with m = 0.1, after t steps
    t = np.array([0, 5, 10])
    expected_mu = 0.9**t * mu0.item() + (1 - 0.9**t) * 5.0
    expected = np.abs(expected_mu - mu0.item()) / abs(mu0.item())
    np.testing.assert_allclose(res["drift"]["left in train mode"][:, 0], expected, rtol=1e-5)
    np.testing.assert_array_equal(res["drift"]["frozen with freeze()"], 0.0)
    frozen_acc = res["source_acc"]["frozen with freeze()"]
    assert frozen_acc[0] == frozen_acc[-1] == res["source_acc"]["left in train mode"][0]
    assert frozen_acc[0] > 0.9  # the toy source task was learnt
    assert res["source_acc"]["left in train mode"][-1] < frozen_acc[0]  # the drift costs accuracy
    for k, v in net.state_dict().items():  # the model passed in is untouched
        assert torch.equal(v, weights[k])
    fig = T.plot_bn_drift(res)
    assert len(fig.axes) == 2


def test_bn_drift_rejects_bad_input():
    net = _trained_bn_net()
    target = torch.zeros(8, 1, 4, 4)
    with pytest.raises(ValueError, match="batch-norm"):
        T.bn_drift(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), target, _source_task())
    with pytest.raises(ValueError, match="target_X"):
        T.bn_drift(net, target[0], _source_task())
    with pytest.raises(ValueError, match="batch_size"):
        T.bn_drift(net, target, _source_task(), batch_size=9)
    with pytest.raises(ValueError, match="source"):
        T.bn_drift(net, target, _source_task()[0])
    with pytest.raises(ValueError, match="result"):
        T.plot_bn_drift({"steps": [0]})


def test_plot_filter_pairs_accepts_models_layers_and_tensors():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 3)
    model = nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU())
    fig = T.plot_filter_pairs({"conv": conv, "model": model, "tensor": torch.randn(5, 1, 3, 3)})
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6 + 4 + 5
    assert images[6].images[0].get_array().shape == (5, 5)  # input channels averaged
    np.testing.assert_allclose(
        images[0].images[0].get_array(), conv.weight[0, 0].detach().numpy(), rtol=1e-6
    )
    with pytest.raises(ValueError, match="filters"):
        T.plot_filter_pairs({"bad": nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="filters"):
        T.plot_filter_pairs({})
