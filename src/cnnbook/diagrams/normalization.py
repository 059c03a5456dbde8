"""Concept diagram of chapter 5: the axes batch normalisation averages over, train vs eval.

    batchnorm_axes   an N x C x H x W batch as a grid of feature maps; one channel's statistics
                     pool N, H and W; train mode uses them, eval mode the running estimates

The statistics drawn are computed with NumPy from the drawn batch and the running estimates by a
real ``nn.BatchNorm2d`` after one training step; the tests recompute both.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from torch import nn

from . import _style as S

__all__ = ["batchnorm_axes"]


def _example_batch() -> np.ndarray:
    """Four images, three channels of 2x2 maps, each channel with its own centre and spread."""
    rng = np.random.default_rng(0)
    centre, spread = np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.5, 2.0])
    return np.round(
        centre[None, :, None, None] + spread[None, :, None, None] * rng.normal(size=(4, 3, 2, 2)), 1
    )


def batchnorm_axes(x: np.ndarray | None = None, channel: int = 1, momentum: float = 0.1) -> Figure:
    """Which values batch norm pools: every image and position of one channel.

    Args:
        x: a batch ``(N, C, H, W)``; default 4 x 3 x 2 x 2 with rounded values.
        channel: the channel highlighted.
        momentum: the BN layer's momentum for the running estimates shown.

    Returns:
        the figure; gids ``"mean[c]"`` and ``"var[c]"`` for the batch statistics, ``"run_mean[c]"``
        and ``"run_var[c]"`` for the running estimates after one training step, ``"count"`` for
        the number of values per channel.
    """
    x = _example_batch() if x is None else np.asarray(x, float)
    if x.ndim != 4:
        raise ValueError(f"x: got shape {x.shape}, expected (N, C, H, W)")
    n, c, h, w = x.shape
    if not 0 <= channel < c:
        raise ValueError(f"channel: got {channel}, expected 0 <= channel < {c}")
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))  # biased, as the normalisation uses
    bn = nn.BatchNorm2d(c, momentum=momentum).double().train()
    with torch.no_grad():
        bn(torch.from_numpy(x))
    run_mean, run_var = bn.running_mean.numpy(), bn.running_var.numpy()
    cell = 0.5
    side = w * cell
    gap = 0.45
    fig, ax = S.canvas(9, 5)
    for i in range(n):
        for j in range(c):
            x0, y0 = j * (side + gap), -i * (h * cell + gap)
            fill = S.CHANNELS[j % len(S.CHANNELS)]
            S.grid(ax, x0, y0, x[i, j], cell=cell, fill=fill, fontsize=8, digits=1, lw=0.5)
        S.label(
            ax,
            -0.15,
            -i * (h * cell + gap) - h * cell / 2,
            f"image {i}",
            ha="right",
            va="center",
            fontsize=9,
        )
    for j in range(c):
        S.label(ax, j * (side + gap) + side / 2, 0.12, f"channel {j}", fontsize=9)
    total_h = n * (h * cell + gap) - gap
    x0 = channel * (side + gap)
    ax.add_patch(
        FancyBboxPatch(
            (x0 - 0.12, -total_h - 0.12),
            side + 0.24,
            total_h + 0.24,
            boxstyle="round,pad=0,rounding_size=0.1",
            fill=False,
            edgecolor=S.FOCUS,
            lw=2.5,
            zorder=8,
        )
    )
    S.label(
        ax,
        x0 + side / 2,
        -total_h - 0.3,
        f"N\u00b7H\u00b7W = {n}\u00b7{h}\u00b7{w} = {n * h * w} values\n"
        f"\u2192 one mean, one variance",
        va="top",
        color=S.FOCUS,
        fontsize=9,
        gid="count",
    )
    # the statistics, one per channel
    sx = c * (side + gap) + 0.9
    S.label(ax, sx, 0.12, f"per channel (shape ({c},))", ha="left", fontsize=9)
    S.label(ax, sx, -0.35, "batch mean \u03bc", ha="left", va="center", fontsize=9)
    S.label(ax, sx, -0.95, "batch variance \u03c3\u00b2", ha="left", va="center", fontsize=9)
    vx = sx + 2.6
    for j in range(c):
        fill = S.CHANNELS[j % len(S.CHANNELS)]
        S.box(
            ax,
            vx + j * 0.95,
            -0.6,
            0.85,
            0.5,
            S.fmt_num(mean[j], 2),
            fill=fill,
            fontsize=9,
            gid=f"mean[{j}]",
        )
        S.box(
            ax,
            vx + j * 0.95,
            -1.2,
            0.85,
            0.5,
            S.fmt_num(var[j], 2),
            fill=fill,
            fontsize=9,
            gid=f"var[{j}]",
        )
    ax.add_patch(
        Rectangle(
            (vx + channel * 0.95 - 0.06, -1.28),
            0.97,
            1.26,
            fill=False,
            edgecolor=S.FOCUS,
            lw=2,
            zorder=8,
        )
    )
    train_y = -1.9
    S.box(
        ax,
        sx,
        train_y - 1.6,
        6.0,
        1.5,
        "train mode: normalise with this batch's \u03bc, \u03c3\u00b2\n"
        "x\u0302 = (x \u2212 \u03bc) / \u221a(\u03c3\u00b2 + \u03b5),  "
        "y = \u03b3 x\u0302 + \u03b2\n"
        f"and update the running estimates (m = {S.fmt_num(momentum)}):\n"
        "\u03bc\u0302 \u2190 (1 \u2212 m) \u03bc\u0302 + m \u03bc; \u03c3\u0302\u00b2 likewise, "
        "fed\nthe unbiased variance",
        fill=S.OUTPUT,
        fontsize=9,
    )
    eval_y = train_y - 2.0
    S.label(
        ax,
        sx,
        eval_y,
        "running estimates after one step from 0 and 1",
        ha="left",
        va="center",
        fontsize=9,
    )
    S.label(ax, sx, eval_y - 0.5, "\u03bc\u0302", ha="left", va="center", fontsize=9)
    S.label(ax, sx, eval_y - 1.1, "\u03c3\u0302\u00b2", ha="left", va="center", fontsize=9)
    for j in range(c):
        fill = S.CHANNELS[j % len(S.CHANNELS)]
        S.box(
            ax,
            vx + j * 0.95,
            eval_y - 0.75,
            0.85,
            0.5,
            S.fmt_num(run_mean[j], 3),
            fill=fill,
            fontsize=9,
            gid=f"run_mean[{j}]",
        )
        S.box(
            ax,
            vx + j * 0.95,
            eval_y - 1.35,
            0.85,
            0.5,
            S.fmt_num(run_var[j], 3),
            fill=fill,
            fontsize=9,
            gid=f"run_var[{j}]",
        )
    S.box(
        ax,
        sx,
        eval_y - 2.65,
        6.0,
        1.05,
        "eval mode: normalise with the running \u03bc\u0302, \u03c3\u0302\u00b2\n"
        "no batch statistics: an image's output does\nnot depend on the rest of its batch",
        fill=S.PAD,
        fontsize=9,
    )
    S.fit(ax, scale=0.55)
    return fig
