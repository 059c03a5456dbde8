"""Concept diagram of chapter 1: a dense layer against a convolution on the same inputs.

    weight_sharing   every connection its own weight (dense) vs three weights reused (convolution)

The weight counts and the convolution's output length come from ``torch.nn`` layers.
"""

from __future__ import annotations

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import nn

from . import _style as S

__all__ = ["weight_sharing"]


def weight_sharing(n_in: int = 8, kernel_size: int = 3) -> Figure:
    """A 1-D input of ``n_in`` units feeding a dense layer (left) and a convolution (right) with
    as many outputs as the convolution has positions. Each weight has its own colour: the dense
    layer's lines are all different, the convolution's repeat the ``kernel_size`` colours of its
    kernel at every position, and each of its outputs sees only ``kernel_size`` inputs.

    Returns:
        the figure; the weight counts have gids ``"dense"`` and ``"conv"``.
    """
    if not 2 <= kernel_size <= n_in:
        raise ValueError(f"kernel_size: got {kernel_size}, expected 2 to n_in = {n_in}")
    conv = nn.Conv1d(1, 1, kernel_size, bias=False)
    n_out = conv(__import__("torch").zeros(1, 1, n_in)).shape[-1]
    dense = nn.Linear(n_in, n_out, bias=False)
    n_dense, n_conv = dense.weight.numel(), conv.weight.numel()
    fig, ax = S.canvas(9, 3.4)
    step, gap = 0.6, 6.6
    cmap = mpl.colormaps["turbo"]
    tap_colours = (S.FOCUS, S.FOCUS2, S.FOCUS3, "#cc79a7", "#e69f00")
    for panel in range(2):
        ox = panel * gap
        xin = [ox + i * step for i in range(n_in)]
        shift = (n_in - n_out) * step / 2
        xout = [ox + shift + j * step for j in range(n_out)]
        for j, xo in enumerate(xout):
            for i, xi in enumerate(xin):
                if panel == 0:
                    colour = cmap((j * n_in + i) / (n_in * n_out - 1) * 0.9 + 0.05)
                elif 0 <= i - j < kernel_size:
                    colour = tap_colours[(i - j) % len(tap_colours)]
                else:
                    continue
                ax.plot([xi, xo], [0, 2.2], color=colour, lw=1.3 if panel else 0.9, zorder=1)
        for xs, y, fill in ((xin, 0, S.INPUT), (xout, 2.2, S.OUTPUT)):
            for xc in xs:
                ax.add_patch(Circle((xc, y), 0.17, facecolor=fill, edgecolor=S.INK, zorder=3))
        mid = ox + (n_in - 1) * step / 2
        if panel == 0:
            title = f"dense layer: {n_in} \u00d7 {n_out} = {n_dense} weights,\neach used once"
        else:
            title = (
                f"convolution: {n_conv} weights (kernel size {kernel_size}),\n"
                f"each used at all {n_out} positions"
            )
        S.label(ax, mid, 2.65, title, fontsize=9.5, gid="dense" if panel == 0 else "conv")
        S.label(ax, mid, -0.35, f"{n_in} inputs", va="top", fontsize=9)
    S.fit(ax, scale=0.62)
    return fig
