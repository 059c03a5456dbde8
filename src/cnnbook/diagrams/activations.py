"""Concept diagrams of chapter 3: where the activation sits, and why it is needed.

    conv_relu_pool   a feature map through ReLU (same shape, negatives to zero) and max pooling
    two_convs_one    two stacked kernels with nothing between them merge into one larger kernel

Every number is computed with ``torch.nn.functional``; the tests check the merged kernel by
running both networks on random inputs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from . import _style as S

__all__ = ["conv_relu_pool", "two_convs_one"]


def _ints(shape, low, high, seed):
    return np.random.default_rng(seed).integers(low, high + 1, size=shape).astype(float)


def conv_relu_pool(x: np.ndarray | None = None, k: np.ndarray | None = None) -> Figure:
    """Input -> 3x3 convolution -> ReLU -> 2x2 max pooling, every array with its numbers.

    Returns:
        the figure; gids ``"conv[i,j]"``, ``"relu[i,j]"``, ``"pool[i,j]"`` and the shape labels
        ``"shape_conv"``, ``"shape_relu"``, ``"shape_pool"``.
    """
    x = _ints((6, 6), 0, 3, seed=20) if x is None else np.asarray(x, float)
    k = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float) if k is None else np.asarray(k, float)
    xt, kt = torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]
    fmap = F.conv2d(xt, kt)
    relu = F.relu(fmap)
    pool = F.max_pool2d(relu, 2)
    arrays = [
        (x, "input", S.INPUT, None),
        (fmap[0, 0].numpy(), "conv\n3\u00d73", S.OUTPUT, "conv"),
        (relu[0, 0].numpy(), "ReLU", S.OUTPUT, "relu"),
        (pool[0, 0].numpy(), "max pool\n2\u00d72", S.KERNEL, "pool"),
    ]
    fig, ax = S.canvas(9, 3)
    cell, x0 = 0.5, 0.0
    h0 = x.shape[0] * cell
    for n, (a, _name, fill, gid) in enumerate(arrays):
        top = -(h0 - a.shape[0] * cell) / 2
        fills = np.full(a.shape, fill, dtype=object)
        if gid == "conv":
            fills[a < 0] = S.GRAD
        S.grid(ax, x0, top, a, cell=cell, fill=fills, fontsize=8.5, gid=gid)
        S.label(
            ax,
            x0 + a.shape[1] * cell / 2,
            top - a.shape[0] * cell - 0.1,
            S.shape_text(a.shape),
            va="top",
            fontsize=9,
            gid=None if gid is None else f"shape_{gid}",
        )
        x0 += a.shape[1] * cell
        if n < len(arrays) - 1:
            S.arrow(ax, (x0 + 0.1, -h0 / 2), (x0 + 1.3, -h0 / 2))
            S.label(ax, x0 + 0.7, -h0 / 2 + 0.15, arrays[n + 1][1], fontsize=9)
            x0 += 1.4
    S.label(
        ax,
        x0 / 2,
        0.55,
        "negative responses (pink) become 0; ReLU keeps the shape, pooling halves it",
        fontsize=9,
    )
    S.fit(ax, scale=0.6)
    return fig


def _merged_kernel(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """The one kernel equal to correlating with ``k1`` and then ``k2`` (one channel, no bias):
    their true convolution, computed as a correlation of the zero-padded ``k1`` with the flipped
    ``k2``.

    Shape:
        ``(a, a)`` and ``(b, b)`` in, ``(a + b - 1, a + b - 1)`` out.
    """
    k1t = torch.from_numpy(np.asarray(k1, float))[None, None]
    k2t = torch.from_numpy(np.asarray(k2, float))[None, None]
    pad = k2t.shape[-1] - 1
    return F.conv2d(F.pad(k1t, (pad, pad, pad, pad)), k2t.flip(2, 3))[0, 0].numpy()


def two_convs_one(k1: np.ndarray | None = None, k2: np.ndarray | None = None) -> Figure:
    """Two 3x3 kernels applied one after the other equal one 5x5 kernel (their convolution).

    Returns:
        the figure; the merged kernel's cells have gids ``"merged[i,j]"``.
    """
    k1 = _ints((3, 3), -1, 1, seed=21) if k1 is None else np.asarray(k1, float)
    k2 = _ints((3, 3), -1, 2, seed=22) if k2 is None else np.asarray(k2, float)
    merged = _merged_kernel(k1, k2)
    cell = 0.5
    fig, ax = S.canvas(9, 3)
    h = merged.shape[0] * cell
    S.grid(ax, 0, -(h - 3 * cell) / 2, k1, cell=cell, fill=S.KERNEL, fontsize=9)
    S.label(ax, 0.75, -(h - 3 * cell) / 2 + 0.12, "kernel 1", fontsize=9)
    S.label(ax, 1.9, -h / 2, "then", fontsize=10, va="center")
    S.grid(ax, 2.5, -(h - 3 * cell) / 2, k2, cell=cell, fill=S.KERNEL, fontsize=9)
    S.label(ax, 3.25, -(h - 3 * cell) / 2 + 0.12, "kernel 2", fontsize=9)
    S.label(ax, 4.45, -h / 2, "=", fontsize=16, va="center")
    S.grid(ax, 5.0, 0, merged, cell=cell, fill=S.OUTPUT, fontsize=9, gid="merged")
    S.label(ax, 5.0 + h / 2, 0.12, "one 5\u00d75 kernel (kernel 1 \u2217 kernel 2)", fontsize=9)
    S.label(
        ax,
        5.0 + h + 0.4,
        -h / 2,
        "no activation between them:\ntwo layers compute exactly\nwhat this one layer does.\n"
        "With a ReLU between them,\nin general no single kernel does.",
        ha="left",
        va="center",
        fontsize=9,
    )
    S.fit(ax, scale=0.6)
    return fig
