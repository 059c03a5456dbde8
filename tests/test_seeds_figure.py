"""figures.seeds_figure draws every run, its range and its mean."""

import matplotlib.pyplot as plt
import pytest

from cnnbook.viz import figures


def test_seeds_figure_shows_each_run_the_range_and_the_mean():
    groups = {"CNN": [0.965, 0.952, 0.9325], "MLP": [0.90, 0.89, 0.895]}
    fig = figures.seeds_figure(groups, ylabel="acc", fmt="{:.3f}")
    ax = fig.axes[0]
    dots = [line.get_ydata() for line in ax.get_lines()]
    assert [sorted(d) for d in dots] == [sorted(v) for v in groups.values()]
    ranges = [c for c in ax.collections if c.get_linewidth()[0] == 6]
    spans = [sorted(seg[:, 1]) for c in ranges for seg in c.get_segments()]
    assert spans == [[0.9325, 0.965], [0.89, 0.90]]
    assert [t.get_text() for t in ax.texts] == ["0.950", "0.895"]  # 2.8495 / 3 = 0.94983
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CNN", "MLP"]
    plt.close(fig)
    with pytest.raises(ValueError, match="groups"):
        figures.seeds_figure({"a": []})
