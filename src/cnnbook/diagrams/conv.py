"""Concept diagrams of chapter 2: how a convolution computes, and how its gradients do.

    sliding_window      a kernel at two positions over an input and the output cells they make
    padding_stride      padding and stride side by side, each with its output-size formula
    multichannel        a C_in x k x k kernel summing over channels; C_out kernels, C_out maps
    one_by_one          a 1x1 convolution: one C_out x C_in matrix applied at every pixel
    im2col              windows copied into columns; the convolution as one matrix product
    conv_backward       dX as a full convolution with the flipped kernel; dK summed over positions
    receptive_field     the cone of input pixels one unit sees through a stack of layers

Every number drawn is computed here from the arrays drawn, with the book's NumPy layers
(``cnnbook.numpy_ref``) or PyTorch; the tests recompute them with ``torch.nn.functional``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from cnnbook import numpy_ref

from . import _style as S

__all__ = [
    "sliding_window",
    "padding_stride",
    "multichannel",
    "one_by_one",
    "im2col",
    "conv_backward",
    "receptive_field",
]

# The worked example of chapter 2 (a bright column left of a dark one, and that edge detector).
_X5 = np.array(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], float
)
_K3 = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], float)


def _ints(shape: Sequence[int], low: int, high: int, seed: int) -> np.ndarray:
    """Small integers, so that a reader can redo the arithmetic."""
    return np.random.default_rng(seed).integers(low, high + 1, size=tuple(shape)).astype(float)


def _check_2d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {a.shape}")
    return a


def sliding_window(
    x: np.ndarray = _X5,
    k: np.ndarray = _K3,
    positions: Sequence[tuple[int, int]] = ((0, 0), (1, 2)),
) -> Figure:
    """A kernel over an input at one or two positions, and the output cell each one makes.

    Args:
        x: the input, ``(H, W)``.
        k: the kernel, ``(kH, kW)``.
        positions: one or two output positions ``(i, j)`` to highlight (stride 1, no padding).

    Returns:
        the figure; the text of output cell ``(i, j)`` has the gid ``"Y[i,j]"`` and the sum
        written out for the last position the gid ``"sum"``.
    """
    x, k = _check_2d(x, "x"), _check_2d(k, "k")
    out = numpy_ref.conv2d_forward_naive(x[None, None], k[None, None], np.zeros(1))[0][0, 0]
    if not 1 <= len(positions) <= 2:
        raise ValueError(f"positions: got {len(positions)}, expected one or two")
    for i, j in positions:
        if not (0 <= i < out.shape[0] and 0 <= j < out.shape[1]):
            raise ValueError(f"positions: got {(i, j)}, expected inside the {out.shape} output")
    colours = (S.FOCUS, S.FOCUS2)
    (h, w), (kh, kw), (ho, wo) = x.shape, k.shape, out.shape
    fig, ax = S.canvas(8.6, 3.9)
    xk, xo = w + 1.6, w + kw + 3.2
    top = 0.0
    S.grid(ax, 0, top, x, fill=S.INPUT)
    S.grid(ax, xk, top - (h - kh) / 2, k, fill=S.KERNEL)
    S.grid(ax, xo, top - (h - ho) / 2, out, fill=S.OUTPUT, gid="Y")
    S.label(ax, w / 2, top + 0.25, f"input X ({S.shape_text(x.shape)})")
    S.label(ax, xk + kw / 2, top - (h - kh) / 2 + 0.25, f"kernel K ({S.shape_text(k.shape)})")
    S.label(ax, xo + wo / 2, top - (h - ho) / 2 + 0.25, f"output Y ({S.shape_text(out.shape)})")
    S.label(ax, w + 0.8, -h / 2, "\u22c6", fontsize=26, va="center")
    S.label(ax, xk + kw + 0.8, -h / 2, "=", fontsize=18, va="center")
    for n, ((i, j), colour) in enumerate(zip(positions, colours, strict=False)):
        S.outline(ax, 0, top, i, j, kh, kw, color=colour, ls="-" if n == 0 else "--")
        S.outline(ax, xo, top - (h - ho) / 2, i, j, 1, 1, color=colour, ls="-" if n == 0 else "--")
        start = (j + kw, top - i - (0.15 if n == 0 else kh - 0.15))
        end = S.centre(xo, top - (h - ho) / 2, i, j)
        end = (end[0], end[1] + (0.5 if n == 0 else -0.5))
        S.arrow(ax, start, end, color=colour, rad=-0.25 if n == 0 else 0.25, lw=1.2)
    i, j = positions[-1]
    window = x[i : i + kh, j : j + kw]
    terms = " + ".join(S.product(a, b) for a, b in zip(window.flat, k.flat, strict=True))
    S.label(
        ax,
        (xo + wo) / 2,
        -h - 0.9,
        f"Y[{i}, {j}] = {terms} = {S.fmt_num(out[i, j])}",
        fontsize=S.FONT - 0.5,
        va="top",
        color=colours[len(positions) - 1],
        gid="sum",
    )
    S.fit(ax, scale=0.34)
    return fig


def padding_stride(
    cases: Sequence[tuple[int, int, int, int]] = (
        (5, 3, 1, 0),
        (5, 3, 1, 1),
        (5, 3, 2, 1),
        (6, 3, 2, 0),
    ),
) -> Figure:
    """Padding and stride side by side: each panel an input of side N padded by P, the kernel's
    positions at stride S, the output grid and ``floor((N - K + 2P) / S) + 1``.

    Args:
        cases: ``(N, K, S, P)`` per panel.

    Returns:
        the figure; the output size of panel ``n`` is the text with gid ``f"size{n}"``.
    """
    cell = 0.5
    panels = len(cases)
    fig, ax = S.canvas(2.35 * panels, 4.6)
    x0 = 0.0
    tallest = max(size + 2 * p for size, _, _, p in cases) * cell
    for n, (size, k, s, p) in enumerate(cases):
        n_out = numpy_ref.conv2d_output_size(size, k, stride=s, padding=p)
        full = size + 2 * p
        starts = range(0, full - k + 1, s)
        covered = np.zeros((full, full), bool)
        for r in starts:
            for c in starts:
                covered[r : r + k, c : c + k] = True
        fills = np.full((full, full), S.INPUT, dtype=object)
        fills[:p, :] = fills[full - p :, :] = S.PAD
        fills[:, :p] = fills[:, full - p :] = S.PAD
        fills[~covered] = "white"
        S.grid(ax, x0, 0, shape=(full, full), cell=cell, fill=fills)
        for r in range(full):
            for c in range(full):
                if fills[r, c] == S.PAD:
                    S.label(
                        ax,
                        *S.centre(x0, 0, r, c, cell),
                        "0",
                        fontsize=7,
                        va="center",
                        color=S.MUTED,
                    )
                elif not covered[r, c]:
                    ax.add_patch(
                        Rectangle(
                            (x0 + c * cell, -(r + 1) * cell),
                            cell,
                            cell,
                            fill=False,
                            hatch="////",
                            edgecolor=S.MUTED,
                            lw=0,
                        )
                    )
        for r in starts:
            for c in starts:
                cx, cy = S.centre(x0, 0, r + (k - 1) / 2, c + (k - 1) / 2, cell)
                ax.add_patch(Circle((cx, cy), 0.07, color=S.FOCUS2, zorder=6))
        S.outline(ax, x0, 0, 0, 0, k, k, cell=cell, color=S.FOCUS)
        if len(starts) > 1:
            S.outline(ax, x0, 0, 0, s, k, k, cell=cell, color=S.FOCUS3, ls="--", lw=2)
        width = full * cell
        S.label(ax, x0 + width / 2, 0.15, f"N = {size}, K = {k}\nS = {s}, P = {p}")
        y_out = -tallest - 0.9
        out_w = n_out * cell
        S.grid(ax, x0 + (width - out_w) / 2, y_out, shape=(n_out, n_out), cell=cell, fill=S.OUTPUT)
        S.outline(ax, x0 + (width - out_w) / 2, y_out, 0, 0, 1, 1, cell=cell, color=S.FOCUS)
        if n_out > 1:
            S.outline(
                ax,
                x0 + (width - out_w) / 2,
                y_out,
                0,
                1,
                1,
                1,
                cell=cell,
                color=S.FOCUS3,
                ls="--",
                lw=2,
            )
        S.arrow(ax, (x0 + width / 2, -width - 0.1), (x0 + width / 2, y_out + 0.45), lw=1.0)
        S.label(
            ax,
            x0 + width / 2,
            y_out - out_w - 0.2,
            f"\u230a({size} \u2212 {k} + 2\u00b7{p}) / {s}\u230b + 1 = {n_out}",
            va="top",
            fontsize=S.FONT - 0.5,
            gid=f"size{n}",
        )
        x0 += max(width, 3.4) + 1.0
    S.fit(ax)
    return fig


def multichannel(
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
    b: np.ndarray | None = None,
    position: tuple[int, int] = (0, 1),
) -> Figure:
    """One output value of a multi-channel convolution, channel by channel, and the C_out maps.

    Kernel 0 has one ``k x k`` slice per input channel; each slice is correlated with its channel,
    the per-channel sums are added with one bias, and that is one value of output map 0.

    Args:
        x: input ``(C_in, H, W)``; default small integers, 3 x 5 x 5.
        w: kernels ``(C_out, C_in, k, k)``; default 4 x 3 x 3 x 3.
        b: biases ``(C_out,)``.
        position: the output position ``(i, j)`` shown.

    Returns:
        the figure; the per-channel sums have gids ``"part0"``, ``"part1"``, ..., the output
        value the gid ``"value"`` and the shape labels ``"shape_x"``, ``"shape_w"``, ``"shape_y"``.
    """
    x = _ints((3, 5, 5), 0, 3, seed=1) if x is None else np.asarray(x, float)
    w = _ints((4, x.shape[0], 3, 3), -1, 1, seed=2) if w is None else np.asarray(w, float)
    b = np.arange(1.0, w.shape[0] + 1) if b is None else np.asarray(b, float)
    if x.ndim != 3 or w.ndim != 4 or w.shape[1] != x.shape[0] or b.shape != (w.shape[0],):
        raise ValueError(
            f"x, w, b: got shapes {x.shape}, {w.shape}, {b.shape}, expected "
            "(C_in, H, W), (C_out, C_in, k, k), (C_out,)"
        )
    y = numpy_ref.conv2d_forward(x[None], w, b)[0][0]
    c_in, (c_out, _, kh, kw) = x.shape[0], w.shape
    i, j = position
    parts = [float(np.sum(x[c, i : i + kh, j : j + kw] * w[0, c])) for c in range(c_in)]
    cell = 0.42
    fig, ax = S.canvas(9.2, 1.25 * c_in + 1.6)
    row_h = x.shape[1] * cell + 0.45
    xk = x.shape[2] * cell + 0.8
    xp = xk + kw * cell + 0.9
    for c in range(c_in):
        top = -c * row_h
        S.grid(ax, 0, top, x[c], cell=cell, fill=S.CHANNELS[c % 6], fontsize=8)
        S.outline(ax, 0, top, i, j, kh, kw, cell=cell, lw=2)
        S.grid(
            ax,
            xk,
            top - (x.shape[1] - kh) * cell / 2,
            w[0, c],
            cell=cell,
            fill=S.CHANNELS[c % 6],
            fontsize=8,
        )
        S.label(ax, xk - 0.4, top - x.shape[1] * cell / 2, "\u22c6", fontsize=24, va="center")
        S.label(
            ax,
            xp,
            top - x.shape[1] * cell / 2,
            f"= {S.fmt_num(parts[c])}",
            ha="left",
            va="center",
            gid=f"part{c}",
        )
        S.label(
            ax,
            -0.15,
            top - x.shape[1] * cell / 2,
            f"channel {c}",
            ha="right",
            va="center",
            fontsize=9,
        )
    S.label(ax, x.shape[2] * cell / 2, 0.2, f"X: {S.shape_text(x.shape)}", gid="shape_x")
    S.label(
        ax,
        xk + kw * cell / 2 + 0.3,
        -(x.shape[1] - kh) * cell / 2 + 0.2,
        f"kernel 0 of\nW: {S.shape_text(w.shape)}",
        gid="shape_w",
        fontsize=9,
    )
    total_h = c_in * row_h - 0.45
    xs = xp + 1.3
    ax.plot(
        [xs - 0.35, xs - 0.2, xs - 0.2, xs - 0.35], [0, 0, -total_h, -total_h], color=S.INK, lw=1.2
    )
    terms = S.terms_sum([*parts, b[0]])
    S.label(ax, xs, -total_h / 2 + 0.25, f"sum + b[0]\n{terms}", ha="left", va="center", fontsize=9)
    S.label(
        ax,
        xs,
        -total_h / 2 - 0.55,
        f"= {S.fmt_num(y[0, i, j])}",
        ha="left",
        va="center",
        color=S.FOCUS,
        gid="value",
    )
    xo = xs + 2.6
    ocell = 0.45
    corners = S.stack(
        ax,
        xo,
        -total_h / 2 - 1.0,
        y.shape[1] * ocell,
        c_out,
        offset=0.3,
        fills=[S.OUTPUT],
        grid_cells=y.shape[1],
    )
    cx, cy = corners[0]
    S.outline(ax, cx, cy + y.shape[1] * ocell, i, j, 1, 1, cell=ocell, lw=2)
    S.arrow(
        ax,
        (xs + 1.2, -total_h / 2 - 0.55),
        S.centre(cx, cy + y.shape[1] * ocell, i, j, ocell),
        color=S.FOCUS,
        lw=1.1,
        rad=0.2,
    )
    S.label(
        ax,
        xo + 0.8,
        -total_h / 2 - 1.2,
        f"Y: {S.shape_text(y.shape)}\n({c_out} kernels, {c_out} maps)",
        va="top",
        gid="shape_y",
    )
    S.fit(ax)
    return fig


def one_by_one(
    x: np.ndarray | None = None, w: np.ndarray | None = None, pixel: tuple[int, int] = (0, 3)
) -> Figure:
    """A 1x1 convolution: the channels of one pixel times one ``C_out x C_in`` matrix.

    Args:
        x: input ``(C_in, H, W)``; default small integers, 4 x 4 x 4.
        w: weights ``(C_out, C_in)`` (the 1x1 kernels); default 2 x 4.
        pixel: the pixel ``(i, j)`` shown.

    Returns:
        the figure; output channel ``o`` of the pixel is the text with gid ``f"out[{o},0]"``.
    """
    x = _ints((4, 4, 4), 0, 3, seed=3) if x is None else np.asarray(x, float)
    w = _ints((2, x.shape[0]), -1, 2, seed=4) if w is None else np.asarray(w, float)
    if x.ndim != 3 or w.ndim != 2 or w.shape[1] != x.shape[0]:
        raise ValueError(
            f"x, w: got shapes {x.shape}, {w.shape}, expected (C_in, H, W), (C_out, C_in)"
        )
    y = numpy_ref.conv2d_forward(x[None], w[:, :, None, None], np.zeros(w.shape[0]))[0][0]
    c_out, c_in = w.shape
    i, j = pixel
    fig, ax = S.canvas(9.0, 3.2)
    size, cells = 2.0, x.shape[1]
    corners = S.stack(ax, 0, -size - 0.6, size, c_in, offset=0.28, grid_cells=cells)
    cx, cy = corners[0]
    S.outline(ax, cx, cy + size, i, j, 1, 1, cell=size / cells, lw=2)
    S.label(ax, size / 2 + 0.4, 0.35, f"X: {S.shape_text(x.shape)}")
    vx = size + 2.0
    vec = x[:, i, j][:, None]
    S.grid(ax, vx, 0.2, vec, cell=0.55, fill=np.array([[S.CHANNELS[c % 6]] for c in range(c_in)]))
    S.label(ax, vx + 0.27, 0.45, f"pixel ({i}, {j})", fontsize=9)
    S.arrow(
        ax,
        S.centre(cx, cy + size, i, j, size / cells),
        (vx - 0.1, 0.2 - 0.55 * c_in / 2),
        color=S.FOCUS,
        lw=1.1,
    )
    mx = vx + 1.3
    S.grid(ax, mx, 0.2 - (c_in - c_out) * 0.55 / 2, w, cell=0.55, fill=S.KERNEL)
    S.label(
        ax,
        mx + 0.55 * c_in / 2,
        0.2 - (c_in - c_out) * 0.55 / 2 + 0.2,
        f"W: {S.shape_text(w.shape)}",
        fontsize=9,
    )
    S.label(ax, mx + 0.55 * c_in + 0.25, 0.2 - c_in * 0.55 / 2, "\u00b7", fontsize=20, va="center")
    S.grid(
        ax,
        mx + 0.55 * c_in + 0.5,
        0.2,
        vec,
        cell=0.55,
        fill=np.array([[S.CHANNELS[c % 6]] for c in range(c_in)]),
    )
    ox = mx + 0.55 * c_in + 1.5
    S.label(ax, ox - 0.22, 0.2 - c_in * 0.55 / 2, "=", fontsize=13, va="center")
    S.grid(
        ax,
        ox,
        0.2 - (c_in - c_out) * 0.55 / 2,
        y[:, i, j][:, None],
        cell=0.55,
        fill=S.OUTPUT,
        gid="out",
    )
    sx = ox + 1.6
    corners = S.stack(
        ax, sx, -size - 0.6, size, c_out, offset=0.28, fills=[S.OUTPUT], grid_cells=cells
    )
    qx, qy = corners[0]
    S.outline(ax, qx, qy + size, i, j, 1, 1, cell=size / cells, lw=2)
    S.arrow(
        ax,
        (ox + 0.6, 0.2 - c_in * 0.55 / 2),
        S.centre(qx, qy + size, i, j, size / cells),
        color=S.FOCUS,
        lw=1.1,
    )
    S.label(ax, sx + size / 2 + 0.2, 0.35, f"Y: {S.shape_text(y.shape)}")
    S.label(
        ax,
        (mx + ox) / 2 + 0.3,
        -2.75,
        "the same matrix W mixes the channels of every pixel",
        fontsize=9,
        va="top",
    )
    S.fit(ax)
    return fig


def im2col(
    x: np.ndarray | None = None, w: np.ndarray | None = None, columns: Sequence[int] = (0, 5)
) -> Figure:
    """im2col: every window of the input becomes a column; the kernels become rows of a matrix;
    one matrix product gives every output value of every output channel.

    Args:
        x: a one-channel input ``(H, W)``; default small integers, 4 x 4.
        w: kernels ``(C_out, k, k)``; default 2 x 2 x 2.
        columns: the windows (column indices, row-major positions) to highlight.

    Returns:
        the figure; the product's entry ``(o, p)`` has the gid ``f"Y[{o},{p}]"``, column ``p`` of
        the im2col matrix the gids ``f"cols[{r},{p}]"``.
    """
    x = _ints((4, 4), 0, 4, seed=5) if x is None else _check_2d(x, "x")
    w = (
        np.array([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], float)
        if w is None
        else np.asarray(w, float)
    )
    if w.ndim != 3:
        raise ValueError(f"w: got shape {w.shape}, expected (C_out, k, k)")
    c_out, kh, kw = w.shape
    xt = torch.from_numpy(x)[None, None]
    cols = F.unfold(xt, (kh, kw))[0].numpy()  # (k*k, L): torch's own im2col
    wmat = w.reshape(c_out, -1)
    y = wmat @ cols
    ho, wo = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    cell = 0.55
    colours = (S.FOCUS, S.FOCUS2, S.FOCUS3)
    fig, ax = S.canvas(9.4, 4.6)
    S.grid(ax, 0, 0, x, cell=cell)
    S.label(ax, x.shape[1] * cell / 2, 0.15, f"X: {S.shape_text(x.shape)}", fontsize=9)
    cx = x.shape[1] * cell + 1.6
    fills = np.full(cols.shape, S.INPUT, dtype=object)
    S.grid(ax, cx, 0, cols, cell=cell, fill=fills, gid="cols")
    S.label(
        ax,
        cx + cols.shape[1] * cell / 2,
        0.15,
        f"im2col(X): {S.shape_text(cols.shape)}, one column per window",
        fontsize=9,
    )
    for n, p in enumerate(columns):
        r, c = divmod(p, wo)
        S.outline(ax, 0, 0, r, c, kh, kw, cell=cell, color=colours[n], ls="-" if n == 0 else "--")
        S.outline(
            ax,
            cx,
            0,
            0,
            p,
            cols.shape[0],
            1,
            cell=cell,
            color=colours[n],
            ls="-" if n == 0 else "--",
        )
    S.arrow(
        ax, (x.shape[1] * cell + 0.2, -x.shape[0] * cell / 2), (cx - 0.2, -x.shape[0] * cell / 2)
    )
    yy = -cols.shape[0] * cell - 0.8
    wx = cx - wmat.shape[1] * cell - 0.5
    S.grid(ax, wx, yy, wmat, cell=cell, fill=S.KERNEL)
    S.label(
        ax,
        wx + wmat.shape[1] * cell / 2,
        yy - c_out * cell - 0.1,
        f"W as rows: {S.shape_text(wmat.shape)}",
        fontsize=9,
        va="top",
    )
    S.label(ax, cx - 0.25, yy - c_out * cell / 2, "\u00b7", fontsize=20, va="center")
    S.grid(ax, cx, yy, y, cell=cell, fill=S.OUTPUT, gid="Y")
    S.label(
        ax,
        cx + y.shape[1] * cell / 2,
        yy - c_out * cell - 0.1,
        f"W \u00b7 im2col(X): {S.shape_text(y.shape)}",
        fontsize=9,
        va="top",
    )
    for n, p in enumerate(columns):
        S.outline(
            ax, cx, yy, 0, p, c_out, 1, cell=cell, color=colours[n], ls="-" if n == 0 else "--"
        )
    mx = cx + y.shape[1] * cell + 1.2
    for o in range(c_out):
        top = yy + 1.2 - o * (ho * cell + 0.5)
        S.grid(ax, mx, top, y[o].reshape(ho, wo), cell=cell, fill=S.OUTPUT)
        S.label(
            ax,
            mx + wo * cell + 0.15,
            top - ho * cell / 2,
            f"map {o}",
            ha="left",
            va="center",
            fontsize=9,
        )
        for n, p in enumerate(columns):
            r, c = divmod(p, wo)
            S.outline(
                ax, mx, top, r, c, 1, 1, cell=cell, color=colours[n], ls="-" if n == 0 else "--"
            )
    S.arrow(
        ax,
        (cx + y.shape[1] * cell + 0.15, yy - c_out * cell / 2),
        (mx - 0.15, yy + 0.2),
        text="reshape",
    )
    S.fit(ax)
    return fig


def conv_backward(
    x: np.ndarray | None = None,
    k: np.ndarray | None = None,
    dout: np.ndarray | None = None,
    dx_cell: tuple[int, int] = (1, 2),
    dk_cell: tuple[int, int] = (1, 0),
) -> Figure:
    """The two gradients of a convolution ``Y = X ⋆ K`` (stride 1, no padding).

    Top: ``dX`` is the full convolution of ``dout`` with the kernel rotated by 180 degrees (pad
    ``dout`` with ``k - 1`` zeros, correlate). Bottom: ``dK[u, v]`` sums, over every output
    position, the input value the weight met there times ``dout``: the input correlated with
    ``dout``.

    Args:
        x: input ``(H, W)``; default 4 x 4 small integers.
        k: kernel ``(k, k)``; default 3 x 3.
        dout: upstream gradient, the output's shape; default small integers.
        dx_cell, dk_cell: the cells of ``dX`` and ``dK`` worked out.

    Returns:
        the figure; ``dX`` cells have gids ``"dX[i,j]"``, ``dK`` cells ``"dK[u,v]"``.
    """
    x = _ints((4, 4), 0, 3, seed=7) if x is None else _check_2d(x, "x")
    k = _ints((3, 3), -1, 2, seed=8) if k is None else _check_2d(k, "k")
    ho, wo = x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1
    dout = _ints((ho, wo), -2, 2, seed=9) if dout is None else _check_2d(dout, "dout")
    if dout.shape != (ho, wo):
        raise ValueError(f"dout: got shape {dout.shape}, expected the output's {(ho, wo)}")
    _, cache = numpy_ref.conv2d_forward(x[None, None], k[None, None], np.zeros(1))
    dx, dk, _ = numpy_ref.conv2d_backward(dout[None, None], cache)
    dx, dk = dx[0, 0], dk[0, 0]
    kh, kw = k.shape
    flipped = k[::-1, ::-1]
    padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    cell = 0.5
    fig, ax = S.canvas(9.0, 6.4)
    # --- dX: full convolution of dout with the flipped kernel
    fills = np.full(padded.shape, S.PAD, dtype=object)
    fills[kh - 1 : kh - 1 + ho, kw - 1 : kw - 1 + wo] = S.GRAD
    S.grid(ax, 0, 0, padded, cell=cell, fill=fills, fontsize=8)
    i, j = dx_cell
    S.outline(ax, 0, 0, i, j, kh, kw, cell=cell)
    pw = padded.shape[1] * cell
    S.label(ax, pw / 2, 0.15, f"dout padded by {kh - 1}", fontsize=9)
    fx = pw + 0.9
    S.label(ax, pw + 0.45, -padded.shape[0] * cell / 2, "\u22c6", fontsize=24, va="center")
    S.grid(
        ax, fx, -(padded.shape[0] - kh) * cell / 2, flipped, cell=cell, fill=S.KERNEL, fontsize=8
    )
    S.label(
        ax,
        fx + kw * cell / 2,
        -(padded.shape[0] - kh) * cell / 2 + 0.15,
        "K rotated 180\u00b0",
        fontsize=9,
    )
    dxx = fx + kw * cell + 0.9
    S.label(ax, dxx - 0.45, -padded.shape[0] * cell / 2, "=", fontsize=14, va="center")
    top_dx = -(padded.shape[0] - dx.shape[0]) * cell / 2
    S.grid(ax, dxx, top_dx, dx, cell=cell, fill=S.GRAD, fontsize=8, gid="dX")
    S.outline(ax, dxx, top_dx, i, j, 1, 1, cell=cell)
    S.label(
        ax, dxx + dx.shape[1] * cell / 2, top_dx + 0.15, f"dX: {S.shape_text(dx.shape)}", fontsize=9
    )
    window = padded[i : i + kh, j : j + kw]
    terms = " + ".join(
        S.product(a, b) for a, b in zip(window.flat, flipped.flat, strict=True) if a != 0
    )
    S.label(
        ax,
        dxx + dx.shape[1] * cell + 0.4,
        top_dx - 0.6,
        f"dX[{i}, {j}] = {terms or '0'}\n= {S.fmt_num(dx[i, j])}",
        ha="left",
        va="top",
        fontsize=9,
        color=S.FOCUS,
    )
    S.label(
        ax,
        dxx + dx.shape[1] * cell + 0.4,
        top_dx - 0.1,
        "input gradient: full convolution",
        ha="left",
        va="top",
        fontsize=9,
    )
    # --- dK: the input correlated with dout
    top = -padded.shape[0] * cell - 1.3
    S.grid(ax, 0, top, x, cell=cell, fontsize=8)
    u, v = dk_cell
    S.outline(ax, 0, top, u, v, ho, wo, cell=cell)
    S.label(ax, x.shape[1] * cell / 2, top + 0.15, f"X: {S.shape_text(x.shape)}", fontsize=9)
    gx = x.shape[1] * cell + 0.9
    S.label(ax, gx - 0.45, top - x.shape[0] * cell / 2, "\u22c6", fontsize=24, va="center")
    S.grid(ax, gx, top - (x.shape[0] - ho) * cell / 2, dout, cell=cell, fill=S.GRAD, fontsize=8)
    S.label(ax, gx + wo * cell / 2, top - (x.shape[0] - ho) * cell / 2 + 0.15, "dout", fontsize=9)
    kx = gx + wo * cell + 0.9
    S.label(ax, kx - 0.45, top - x.shape[0] * cell / 2, "=", fontsize=14, va="center")
    top_dk = top - (x.shape[0] - kh) * cell / 2
    S.grid(ax, kx, top_dk, dk, cell=cell, fill=S.GRAD, fontsize=8, gid="dK")
    S.outline(ax, kx, top_dk, u, v, 1, 1, cell=cell)
    S.label(ax, kx + kw * cell / 2, top_dk + 0.15, f"dK: {S.shape_text(dk.shape)}", fontsize=9)
    terms = " + ".join(S.product(x[u + a, v + c], dout[a, c]) for a in range(ho) for c in range(wo))
    S.label(
        ax,
        kx + kw * cell + 0.4,
        top_dk - 0.1,
        f"kernel gradient: weight K[{u}, {v}] met one input value\n"
        f"at each of the {ho * wo} output positions; sum them,\nweighted by dout:",
        ha="left",
        va="top",
        fontsize=9,
    )
    S.label(
        ax,
        kx + kw * cell + 0.4,
        top_dk - 1.15,
        f"dK[{u}, {v}] = {terms} = {S.fmt_num(dk[u, v])}",
        ha="left",
        va="top",
        fontsize=9,
        color=S.FOCUS,
    )
    S.fit(ax)
    return fig


def _cone(layers: Sequence[tuple[int, int]], n_in: int) -> list[tuple[int, list[int]]]:
    """Per level (input first): the number of units and the units feeding the top middle unit."""
    sizes = [n_in]
    for k, s in layers:
        sizes.append((sizes[-1] - k) // s + 1)
    if sizes[-1] < 1:
        raise ValueError(f"n_in: got {n_in}, too small for layers {list(layers)}")
    seen = [[sizes[-1] // 2]]
    for (k, s), _ in zip(reversed(layers), reversed(sizes[:-1]), strict=True):
        below = sorted({u * s + t for u in seen[0] for t in range(k)})
        seen.insert(0, below)
    return list(zip(sizes, seen, strict=True))


def receptive_field(
    stacks: Sequence[tuple[str, Sequence[tuple[int, int]], int]] = (
        ("three 3-wide layers, stride 1", ((3, 1), (3, 1), (3, 1)), 11),
        ("3-wide layers with strides 2, 2, 1", ((3, 2), (3, 2), (3, 1)), 23),
    ),
) -> Figure:
    """The cone of input units one unit of the top layer depends on, along one axis.

    Args:
        stacks: per panel a title, the ``(kernel_size, stride)`` layers and the input width.

    Returns:
        the figure; in panel ``n`` the highlighted input units are the patches with gid
        ``f"rf{n}"``, and the size label of level ``l`` has gid ``f"rf{n}_level{l}"``.
    """
    unit = 0.42
    heights = [len(layers) + 1 for _, layers, _ in stacks]
    fig, ax = S.canvas(9.0, 1.1 * sum(heights) + 0.6)
    top = 0.0
    for n, (title, layers, n_in) in enumerate(stacks):
        levels = _cone(layers, n_in)
        S.label(ax, n_in * unit / 2, top + 0.2, title, fontsize=10)
        jumps, fields = [1], [1]
        for k, s in layers:
            fields.append(fields[-1] + (k - 1) * jumps[-1])
            jumps.append(jumps[-1] * s)
        ys = [top - (len(layers) - lvl) * 1.0 - 0.5 for lvl in range(len(levels))]
        for lvl, (count, seen) in enumerate(levels):
            y = ys[lvl]
            for u in range(count):
                xc = (u * jumps[lvl] + (fields[lvl] - 1) / 2 + 0.5) * unit
                hot = u in seen
                ax.add_patch(
                    Rectangle(
                        (xc - unit * 0.4, y - unit * 0.4),
                        unit * 0.8,
                        unit * 0.8,
                        facecolor=S.FOCUS if hot else S.INPUT,
                        edgecolor=S.INK,
                        lw=0.7,
                        zorder=3,
                        gid=f"rf{n}" if hot and lvl == 0 else None,
                    )
                )
                if lvl > 0 and hot:
                    k, s = layers[lvl - 1]
                    for t in range(k):
                        below = u * s + t
                        xb = (below * jumps[lvl - 1] + (fields[lvl - 1] - 1) / 2 + 0.5) * unit
                        ax.plot(
                            [xc, xb],
                            [y - unit * 0.4, ys[lvl - 1] + unit * 0.4],
                            color=S.FOCUS,
                            lw=0.9,
                            zorder=2,
                        )
            formula = numpy_ref.receptive_field(list(layers[:lvl]))
            name = (
                "input"
                if lvl == 0
                else f"layer {lvl} (k = {layers[lvl - 1][0]}, s = {layers[lvl - 1][1]})"
            )
            text = name if lvl == 0 else f"{name}: sees {formula} input units"
            S.label(
                ax,
                n_in * unit + 0.4,
                y,
                text,
                ha="left",
                va="center",
                fontsize=9,
                gid=f"rf{n}_level{lvl}",
            )
        if len(levels[0][1]) != numpy_ref.receptive_field(list(layers)):
            raise RuntimeError("the drawn cone disagrees with numpy_ref.receptive_field")
        S.label(
            ax,
            n_in * unit + 0.4,
            ys[0] - 0.45,
            f"{len(levels[0][1])} input units feed the top unit",
            ha="left",
            va="center",
            fontsize=9,
            color=S.FOCUS,
            gid=f"rf{n}_count",
        )
        top = ys[0] - 1.2
    S.fit(ax)
    return fig
