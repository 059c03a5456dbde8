"""cnnbook.viz.training renders with Agg; the data behind each plot is checked independently."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cnnbook.models import build_reference_cnn, build_small_cnn  # noqa: E402
from cnnbook.training import History, fit  # noqa: E402
from cnnbook.viz import training as viz  # noqa: E402


def n_images(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def test_plot_history_from_fit(toy, make_dl):
    X, y = toy
    h = fit(build_small_cnn(3), make_dl(X, y), make_dl(X, y), epochs=2, progress=False)
    fig = viz.plot_history(h, title="toy")
    assert len(fig.axes) == 2
    # training, validation and the best-epoch line on each axis
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), h.train_loss)
    fig.canvas.draw()
    no_val = History(train_loss=[1.0], train_acc=[0.5], val_loss=[float("nan")], val_acc=[0.1])
    assert [len(ax.lines) for ax in viz.plot_history(no_val).axes] == [1, 1]
    with pytest.raises(ValueError, match="history"):
        viz.plot_history(History())


def test_confusion_matrix_counts_against_a_loop():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = np.zeros((4, 4), int)
    for a, b in zip(t, p, strict=True):
        expected[a, b] += 1
    np.testing.assert_array_equal(viz.confusion_matrix(torch.from_numpy(t), p), expected)
    fig = viz.plot_confusion_matrix(t, p, class_names=list("abcd"), normalize=True)
    assert n_images(fig) == 1 and len(fig.axes) == 2  # the matrix and its colour bar
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, expected / expected.sum(1, keepdims=True))
    fig.canvas.draw()
    with pytest.raises(ValueError, match="y_pred"):
        viz.confusion_matrix([0, 1], [0])


def test_plot_filters_shows_each_kernel():
    model = build_reference_cnn()
    fig = viz.plot_filters(model)  # the first convolution: 32 filters of 1x3x3
    assert n_images(fig) == 32 and len(fig.axes) == 32
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), model[0].weight[5, 0].detach())
    fig2 = viz.plot_filters(model[3], max_filters=10, channel=2)
    assert n_images(fig2) == 10
    np.testing.assert_allclose(fig2.axes[9].images[0].get_array(), model[3].weight[9, 2].detach())
    with pytest.raises(ValueError, match="layer"):
        viz.plot_filters(nn.Linear(3, 4))


def test_feature_maps_match_the_layers_outputs():
    torch.manual_seed(0)
    model = build_reference_cnn()
    image = torch.rand(1, 28, 28)
    maps = viz.feature_maps(model, image)
    assert [name for name, _ in maps] == ["0", "3"]
    model.eval()
    with torch.no_grad():
        first = model[0](image[None])[0]
        second = model[3](model[:3](image[None]))[0]
    torch.testing.assert_close(maps[0][1], first)
    torch.testing.assert_close(maps[1][1], second)
    fig = viz.plot_feature_maps(model, image, max_maps=8)
    assert n_images(fig) == 1 + 8 + 8
    fig.canvas.draw()
    with pytest.raises(ValueError, match="image"):
        viz.feature_maps(model, torch.rand(2, 1, 28, 28))


def test_confident_mistakes_are_wrong_and_sorted():
    torch.manual_seed(0)
    model = build_small_cnn(3).eval()
    X = torch.rand(60, 1, 28, 28)
    with torch.no_grad():
        probs = model(X).softmax(1)
    y = (probs.argmax(1) + torch.randint(0, 2, (60,))) % 3  # about half are wrong
    idx, pred, conf = viz.confident_mistakes(model, X, y, k=5)
    wrong = (probs.argmax(1) != y).nonzero().flatten()
    expected = wrong[probs[wrong].max(1).values.argsort(descending=True)[:5]]
    assert torch.equal(idx, expected)
    assert torch.all(pred != y[idx]) and torch.all(conf[:-1] >= conf[1:])
    fig = viz.plot_confident_mistakes(model, X, y, k=5, class_names=["a", "b", "c"])
    assert n_images(fig) == 5
    fig.canvas.draw()
    none_wrong = viz.plot_confident_mistakes(model, X, probs.argmax(1), k=5)
    assert n_images(none_wrong) == 0
