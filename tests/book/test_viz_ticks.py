"""The plot details a reader notices (issue 16): whole-number epoch ticks, labelled log axes, bar
values that do not touch their bars, and "1 pooling" in the singular.

Each figure is drawn (``canvas.draw``) and its ticks and text boxes are read back from matplotlib.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnbook.training import History
from cnnbook.viz import figures
from cnnbook.viz import pooling as vp
from cnnbook.viz import regularization as reg
from cnnbook.viz import training as vt


def _drawn(fig):
    fig.canvas.draw()
    return fig


def _visible_ticks(axis) -> np.ndarray:
    lo, hi = sorted(axis.get_view_interval())
    ticks = np.asarray(axis.get_majorticklocs(), dtype=float)
    return ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]


def _labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]


def test_history_plot_has_whole_epoch_ticks():
    history = History(
        train_loss=[1.6, 0.55, 0.27],
        train_acc=[0.43, 0.82, 0.92],
        val_loss=[0.87, 0.35, 0.21],
        val_acc=[0.70, 0.91, 0.93],
        best_epoch=2,
    )
    fig = _drawn(vt.plot_history(history))
    try:
        for ax in fig.axes:
            ticks = _visible_ticks(ax.xaxis)
            assert len(ticks) >= 2
            np.testing.assert_array_equal(ticks, np.round(ticks))  # no 1.25, 1.5, ...
    finally:
        plt.close(fig)


def test_lr_schedule_plot_has_whole_epoch_ticks():
    schedules = reg.lr_schedules(20, 0.1, monitored_losses=np.linspace(2, 1, 20))
    fig = _drawn(reg.plot_lr_schedules(schedules, monitored_losses=np.linspace(2, 1, 20)))
    try:
        for ax in fig.axes:
            ticks = _visible_ticks(ax.xaxis)
            np.testing.assert_array_equal(ticks, np.round(ticks))
    finally:
        plt.close(fig)


def test_step_losses_on_less_than_a_decade_get_several_plain_labels():
    # Losses between 1.2 and 3.7: no power of ten inside, where matplotlib alone labels only the
    # minor ticks 2 x 10^0 and 3 x 10^0.
    rng = np.random.default_rng(0)
    curves = {
        f"lr {lr}": 2.3 - np.linspace(0, k, 25) + 0.05 * rng.normal(size=25)
        for lr, k in ((0.03, 0.1), (0.1, 0.7), (0.3, 1.1))
    }
    curves["lr 0.3"][13] = 3.7
    fig = _drawn(reg.plot_step_losses(curves))
    try:
        ax = fig.axes[0]
        labels = _labels(ax.yaxis)
        assert len(labels) >= 4, labels
        assert all("10^" not in t and "times" not in t for t in labels), labels
        values = [float(t.replace("\N{MINUS SIGN}", "-")) for t in labels]
        assert values == sorted(values) and len(set(values)) == len(values)
        assert [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()] == []
        np.testing.assert_array_equal(_visible_ticks(ax.xaxis), np.round(_visible_ticks(ax.xaxis)))
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("vmin", "vmax", "expected"),
    [
        (1.2, 3.7, [1.5, 2, 3]),  # finer steps until there are at least 4 ...
        (0.9, 9.5, [1, 2, 5]),
        (0.02, 1.5, [0.02, 0.05, 0.1, 0.2, 0.5, 1]),
    ],
)
def test_plain_log_locator_ticks(vmin, vmax, expected):
    ticks = figures._PlainLogLocator().tick_values(vmin, vmax)
    assert all(vmin <= t <= vmax for t in ticks)
    assert set(np.round(expected, 9)) <= set(np.round(ticks, 9))
    assert len(ticks) >= 3


def test_bar_values_sit_above_their_bars_and_labels_do_not_touch():
    labels = ["toy\nforward", "toy\nbackward", "realistic\nforward", "realistic\nbackward"]
    fig = _drawn(figures.bar_figure(labels, [0.63, 0.43, 1.73, 1.95], fmt="{:.2f}"))
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        bars = [p.get_window_extent(renderer) for p in ax.patches]
        values = [t for t in ax.texts if t.get_text()]
        assert [t.get_text() for t in values] == ["0.63", "0.43", "1.73", "1.95"]
        for bar, text in zip(bars, values, strict=True):
            box = text.get_window_extent(renderer)
            assert box.y0 >= bar.y1 + 2, "a value touches its bar"
            assert bar.x0 < (box.x0 + box.x1) / 2 < bar.x1
        for left, right in zip(bars, bars[1:], strict=False):
            assert right.x0 - left.x1 >= 0.3 * left.width, "bars nearly touch"
        ticks = [t.get_window_extent(renderer) for t in ax.xaxis.get_ticklabels()]
        for left, right in zip(ticks, ticks[1:], strict=False):
            assert right.x0 - left.x1 >= 4, "two bar labels touch"
    finally:
        plt.close(fig)


@pytest.mark.parametrize(("n", "text"), [(0, "0 poolings"), (1, "1 pooling"), (4, "4 poolings")])
def test_poolings_agrees_in_number(n, text):
    assert vp.poolings(n) == text
    assert vp.poolings(np.int64(n)) == text


@pytest.mark.parametrize("bad", [-1, 1.0, True, "2"])
def test_poolings_rejects_what_is_not_a_count(bad):
    with pytest.raises(ValueError, match="n: expected an int >= 0"):
        vp.poolings(bad)
