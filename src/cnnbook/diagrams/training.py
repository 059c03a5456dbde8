"""Concept diagrams of chapter 6: the reference network, the training loop, dropout.

    reference_network   the reference CNN as tensors of their real shapes, layer by layer
    training_loop       one step of training (forward, loss, backward, update) inside epochs
    dropout             two training steps with different dropped units, and evaluation

Shapes and parameter counts come from running the network (``cnnbook.models.shape_table``), the
dropout masks from ``torch.nn.functional.dropout``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import nn

from cnnbook import models

from . import _style as S

__all__ = ["reference_network", "training_loop", "dropout"]


def _layer_name(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        k, p = module.kernel_size[0], module.padding[0]
        return f"conv {k}\u00d7{k}\npad {p}"
    if isinstance(module, nn.MaxPool2d):
        k = module.kernel_size
        return f"max pool\n{k}\u00d7{k}"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Dropout):
        return f"dropout\n{module.p:g}"
    if isinstance(module, nn.ReLU):
        return "ReLU"
    return type(module).__name__.lower()


def reference_network(
    model: nn.Module | None = None, input_shape: tuple[int, int, int] = (1, 28, 28)
) -> Figure:
    """The network as a row of tensors, each drawn with its shape; between them the layers, with
    their parameter counts. Layers that keep the shape (ReLU, dropout) share the arrow of the
    layer before them.

    Args:
        model: an ``nn.Sequential`` (default: ``models.build_reference_cnn()``).
        input_shape: one example's shape.

    Returns:
        the figure; tensor ``t``'s shape label has the gid ``f"shape{t}"``, the total parameter
        count ``"total"``.
    """
    model = models.build_reference_cnn() if model is None else model
    table = models.shape_table(model, input_shape)
    modules = [m for m in model.modules() if not any(True for _ in m.children())]
    stages: list[tuple[tuple[int, ...], str, int]] = [(tuple(input_shape), "", 0)]
    for row, module in zip(table, modules, strict=True):
        shape, name = row.output_shape, _layer_name(module)
        if shape == stages[-1][0] and row.num_params == 0 and len(stages) > 1:
            prev_shape, prev_name, prev_params = stages[-1]
            stages[-1] = (prev_shape, f"{prev_name}\n+ {name}", prev_params)
        else:
            stages.append((shape, name, row.num_params))
    fig, ax = S.canvas(9.5, 3)
    x = 0.0
    base = 0.0
    for t, (shape, name, params) in enumerate(stages):
        if t > 0:
            S.arrow(ax, (x + 0.05, base + 0.9), (x + 1.45, base + 0.9))
            S.label(ax, x + 0.75, base + 1.1, name, fontsize=8, va="bottom")
            if params:
                S.label(
                    ax,
                    x + 0.75,
                    base + 0.7,
                    f"{params:,}\nparams",
                    fontsize=7.5,
                    va="top",
                    color=S.MUTED,
                )
            x += 1.5
        if len(shape) == 3:
            c, h, w = shape
            width, height, depth = 0.12 + 0.12 * math.sqrt(c), 0.08 * h, 0.04 * w
            fill = S.INPUT if t == 0 else S.OUTPUT
        else:
            (c,) = shape
            width, height, depth = 0.3, 0.45 * math.log10(c) + 0.2, 0.0
            fill = S.KERNEL if t < len(stages) - 1 else S.GRAD
        S.slab(ax, x, base + 0.9 - height / 2, width, height, depth=depth, fill=fill)
        S.label(
            ax,
            x + width / 2,
            base + 0.9 - height / 2 - 0.15,
            S.shape_text(shape).replace(" \u00d7 ", "\u00d7"),
            va="top",
            fontsize=8,
            gid=f"shape{t}",
        )
        x += width + depth / math.sqrt(2)
    S.label(
        ax,
        x / 2,
        -1.6,
        f"{models.count_parameters(model):,} parameters in all",
        fontsize=9,
        gid="total",
    )
    S.fit(ax, scale=0.75)
    return fig


def training_loop(model: nn.Module | None = None, batch_size: int = 64) -> Figure:
    """One step of mini-batch training, repeated over the batches of an epoch, and what happens
    between epochs. The shapes are those of ``model`` (default: the reference CNN) on a batch.

    Returns:
        the figure; the logits' shape label has the gid ``"logits"``.
    """
    model = models.build_reference_cnn() if model is None else model
    x = torch.zeros(batch_size, 1, 28, 28)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
    model.train(was_training)
    fig, ax = S.canvas(9, 4.5)
    n = batch_size
    steps = [
        (f"mini-batch\nX: {S.shape_text(x.shape)}\ny: {n} labels", S.INPUT, None),
        (f"forward pass\nlogits = model(X)\n{S.shape_text(logits.shape)}", S.OUTPUT, "logits"),
        ("loss\nsoftmax + cross-entropy\none number", S.KERNEL, None),
        ("backward pass\nloss.backward()\none gradient per weight", S.GRAD, None),
        ("update (SGD, Adam, ...)\noptimizer.step()\noptimizer.zero_grad()", S.PAD, None),
    ]
    w, h = 3.0, 1.35
    pos = [(0.0, 2.4), (4.0, 2.4), (8.0, 2.4), (8.0, 0.0), (4.0, 0.0)]
    for (text, fill, gid), (px, py) in zip(steps, pos, strict=True):
        S.box(ax, px, py, w, h, text, fill=fill, fontsize=9, gid=gid)
    S.arrow(ax, (3.05, 3.07), (3.95, 3.07))
    S.arrow(ax, (7.05, 3.07), (7.95, 3.07))
    S.arrow(ax, (9.5, 2.35), (9.5, 1.4))
    S.arrow(ax, (7.95, 0.67), (7.05, 0.67))
    S.arrow(ax, (3.95, 0.67), (1.5, 2.35), rad=-0.3, text="next batch")
    S.box(
        ax,
        12.0,
        0.9,
        3.2,
        2.0,
        "after every epoch\n(all batches once):\nvalidation loss and\naccuracy, model.eval();\n"
        "early stopping,\nlearning-rate schedule",
        fill="white",
        fontsize=8.5,
        ls="--",
    )
    S.arrow(ax, (11.05, 1.9), (11.95, 1.9), ls="--")
    S.label(ax, 11.5, 2.05, "last\nbatch", fontsize=8, color=S.MUTED)
    S.fit(ax, scale=0.58)
    return fig


def _mask(n: int, p: float, seed: int) -> np.ndarray:
    """``F.dropout`` applied to ones: 0 for a dropped unit, ``1 / (1 - p)`` for a kept one."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return F.dropout(torch.ones(n, dtype=torch.float64), p=p, training=True).numpy()


def dropout(
    p: float = 0.5, sizes: tuple[int, int, int] = (5, 7, 3), seeds: tuple[int, int] = (3, 5)
) -> Figure:
    """Dropout on the hidden layer of a small dense network: two training steps drop different
    units (``F.dropout``'s masks) and scale the kept ones by ``1 / (1 - p)``; in evaluation every
    unit is kept and nothing is scaled.

    Returns:
        the figure; in panel ``k`` the dropped hidden units carry the gid ``f"dropped{k}"`` and the
        scale written under the kept ones the gid ``f"scale{k}"``.
    """
    if not 0 < p < 1:
        raise ValueError(f"p: got {p!r}, expected 0 < p < 1")
    n_in, n_hid, n_out = sizes
    masks = [_mask(n_hid, p, s) for s in seeds] + [np.ones(n_hid)]
    titles = [f"training step {k + 1}" for k in range(len(seeds))] + ["evaluation"]
    fig, ax = S.canvas(9, 3.5)
    col_x = (0.0, 1.6, 3.2)
    gap = 5.0
    for k, (mask, title) in enumerate(zip(masks, titles, strict=True)):
        ox = k * gap
        layers = []
        for size, cx in zip(sizes, col_x, strict=True):
            ys = [(size - 1) / 2 * 0.55 - r * 0.55 for r in range(size)]
            layers.append([(ox + cx, y) for y in ys])
        hidden_on = mask != 0
        for a, b, on_b, on_a in ((0, 1, hidden_on, None), (1, 2, None, hidden_on)):
            for i, pa in enumerate(layers[a]):
                for j, pb in enumerate(layers[b]):
                    active = (on_b is None or on_b[j]) and (on_a is None or on_a[i])
                    ax.plot(
                        [pa[0], pb[0]],
                        [pa[1], pb[1]],
                        color=S.INK if active else "#dddddd",
                        lw=0.6 if active else 0.4,
                        zorder=1,
                    )
        for layer_idx, layer in enumerate(layers):
            for i, (px, py) in enumerate(layer):
                dropped = layer_idx == 1 and not hidden_on[i]
                fill = S.PAD if dropped else (S.INPUT, S.OUTPUT, S.KERNEL)[layer_idx]
                circle = Circle(
                    (px, py),
                    0.19,
                    facecolor=fill,
                    edgecolor=S.MUTED if dropped else S.INK,
                    lw=1.0,
                    zorder=3,
                    gid=f"dropped{k}" if dropped else None,
                )
                ax.add_patch(circle)
                if dropped:
                    ax.plot(
                        [px - 0.13, px + 0.13],
                        [py - 0.13, py + 0.13],
                        color=S.FOCUS,
                        lw=1.5,
                        zorder=4,
                    )
                    ax.plot(
                        [px - 0.13, px + 0.13],
                        [py + 0.13, py - 0.13],
                        color=S.FOCUS,
                        lw=1.5,
                        zorder=4,
                    )
        top = (max(sizes) - 1) / 2 * 0.55 + 0.5
        S.label(ax, ox + col_x[1], top, title, fontsize=10)
        kept = mask[hidden_on]
        scale = float(kept[0]) if len(kept) else 0.0
        note = (
            f"{int((~hidden_on).sum())} of {n_hid} dropped,\nkept \u00d7 {S.fmt_num(scale)}"
            if k < len(seeds)
            else f"all {n_hid} kept,\n\u00d7 {S.fmt_num(scale)}"
        )
        S.label(ax, ox + col_x[1], -top, note, va="top", fontsize=9, gid=f"scale{k}")
    S.label(
        ax,
        gap * 1.5,
        -(max(sizes) - 1) / 2 * 0.55 - 1.55,
        f"dropout with p = {S.fmt_num(p)} on the hidden layer: a new random mask at every step",
        fontsize=9,
        va="top",
    )
    S.fit(ax, scale=0.55)
    return fig
