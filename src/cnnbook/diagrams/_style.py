"""The shared look of the book's concept diagrams: colours, grids of numbers, boxes, arrows.

Every diagram is drawn in data coordinates on one axes without ticks (``canvas``), on an opaque
white figure with dark lines and text, so that it reads the same in the website's light and dark
modes. A grid's row 0 is at the top, as in an array: cell ``(i, j)`` of a grid whose top-left
corner is at ``(x, y)`` covers ``[x + j, x + j + 1] x [y - i - 1, y - i]`` (times the cell size).
Text artists that show a computed number carry a ``gid`` so that tests can read them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

# Colour-blind-friendly roles (Okabe-Ito hues), light fills so that black text stays readable.
INK = "#222222"
INPUT = "#cfe3f7"  # inputs, activations
KERNEL = "#fbd9a8"  # weights
OUTPUT = "#cdeccd"  # outputs
GRAD = "#f6c6d8"  # gradients
PAD = "#e6e6e6"  # padding, frozen parts
FOCUS = "#d55e00"  # the highlighted window / cell (vermillion)
FOCUS2 = "#0072b2"  # a second highlight (blue)
FOCUS3 = "#009e73"  # a third highlight (green)
MUTED = "#888888"
CHANNELS = ("#f4b6b6", "#b9e3b9", "#b8cdf2", "#f2e2a0", "#dcc4ee", "#bfe6e6")
FONT = 10


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A white figure of ``width`` x ``height`` inches with one frameless, equal-aspect axes."""
    fig, ax = plt.subplots(figsize=(width, height), facecolor="white")
    fig.subplots_adjust(0, 0, 1, 1)
    ax.set_facecolor("white")
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def fit(ax: Axes, margin: float = 0.25, scale: float = 0.6, max_width: float = 9.5) -> None:
    """Size the figure to what is drawn: ``scale`` inches per data unit (so that cells and text
    have the same size in every diagram), less if the figure would be wider than ``max_width``.

    Text is included: its extent is measured by the renderer and the limits grow to hold it.
    """
    fig = ax.figure
    ax.relim()
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    for _ in range(3):
        w, h = x1 - x0 + 2 * margin, y1 - y0 + 2 * margin
        s = min(scale, max_width / w)
        fig.set_size_inches(w * s, h * s)
        ax.set_position((0, 0, 1, 1))
        ax.set_xlim(x0 - margin, x1 + margin)
        ax.set_ylim(y0 - margin, y1 + margin)
        renderer = fig.canvas.get_renderer()
        inverse = ax.transData.inverted()
        grown = False
        for text in ax.texts:
            if not text.get_visible() or not text.get_text():
                continue
            (a, b), (c, d) = inverse.transform(text.get_window_extent(renderer))
            if a < x0 or c > x1 or b < y0 or d > y1:
                x0, x1, y0, y1 = min(x0, a), max(x1, c), min(y0, b), max(y1, d)
                grown = True
        if not grown:
            break


def product(a: float, b: float) -> str:
    """``a·b`` with a negative factor in brackets."""
    fa, fb = fmt_num(a), fmt_num(b)
    if b < 0:
        fb = f"({fb})"
    return f"{fa}\u00b7{fb}"


def terms_sum(values: Sequence[float]) -> str:
    """``a + b + (−c)``: the terms of a sum, negative ones after the first in brackets."""
    out = [fmt_num(v) if k == 0 or v >= 0 else f"({fmt_num(v)})" for k, v in enumerate(values)]
    return " + ".join(out)


def fmt_num(v: float, digits: int = 2) -> str:
    """A short label for a number: integers without a decimal point, a true minus sign."""
    v = float(v)
    if abs(v - round(v)) < 1e-9:
        s = f"{int(round(v))}"
    else:
        s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return s.replace("-", "\u2212")


def grid(
    ax: Axes,
    x: float,
    y: float,
    values: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    *,
    cell: float = 1.0,
    fill: str | np.ndarray = INPUT,
    fontsize: float = FONT,
    digits: int = 2,
    gid: str | None = None,
    lw: float = 0.8,
    zorder: float = 1,
) -> None:
    """A grid of cells with top-left corner ``(x, y)``, numbers written in when ``values`` given.

    ``fill`` is one colour or an array of colours, one per cell. When ``gid`` is given, the text
    of cell ``(i, j)`` gets the gid ``f"{gid}[{i},{j}]"``.
    """
    if values is not None:
        values = np.asarray(values)
        shape = values.shape
    if shape is None:
        raise ValueError("grid: expected values or shape")
    rows, cols = shape
    for i in range(rows):
        for j in range(cols):
            colour = fill if isinstance(fill, str) else fill[i][j]
            ax.add_patch(
                Rectangle(
                    (x + j * cell, y - (i + 1) * cell),
                    cell,
                    cell,
                    facecolor=colour,
                    edgecolor=INK,
                    lw=lw,
                    zorder=zorder,
                )
            )
            if values is not None and np.isfinite(values[i, j]):
                ax.text(
                    x + (j + 0.5) * cell,
                    y - (i + 0.5) * cell,
                    fmt_num(values[i, j], digits),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color=INK,
                    zorder=zorder + 1,
                    gid=None if gid is None else f"{gid}[{i},{j}]",
                )


def outline(
    ax: Axes,
    x: float,
    y: float,
    i: int,
    j: int,
    h: int,
    w: int,
    *,
    cell: float = 1.0,
    color: str = FOCUS,
    lw: float = 2.5,
    ls: str = "-",
    zorder: float = 5,
) -> None:
    """Outline ``h`` x ``w`` cells from cell ``(i, j)`` of the grid at ``(x, y)``."""
    ax.add_patch(
        Rectangle(
            (x + j * cell, y - (i + h) * cell),
            w * cell,
            h * cell,
            fill=False,
            edgecolor=color,
            lw=lw,
            ls=ls,
            zorder=zorder,
        )
    )


def centre(x: float, y: float, i: float, j: float, cell: float = 1.0) -> tuple[float, float]:
    """The centre of cell ``(i, j)`` of the grid at ``(x, y)``."""
    return x + (j + 0.5) * cell, y - (i + 0.5) * cell


def label(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    *,
    fontsize: float = FONT,
    ha: str = "center",
    va: str = "bottom",
    color: str = INK,
    gid: str | None = None,
    **kw,
) -> None:
    """Text at ``(x, y)`` in the diagram's ink."""
    ax.text(x, y, text, ha=ha, va=va, fontsize=fontsize, color=color, gid=gid, **kw)


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    color: str = INK,
    lw: float = 1.4,
    ls: str = "-",
    rad: float = 0.0,
    text: str | None = None,
    fontsize: float = FONT - 1,
    zorder: float = 6,
    shrink: tuple[float, float] = (2.0, 2.0),
) -> None:
    """An arrow from ``start`` to ``end``, with optional text at its middle; ``shrink`` stops it
    that many points short of each end."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color=color,
            lw=lw,
            ls=ls,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=shrink[0],
            shrinkB=shrink[1],
            zorder=zorder,
        )
    )
    if text:
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2,
            text,
            ha="center",
            va="center",
            fontsize=fontsize,
            color=color,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
            zorder=zorder + 1,
        )


def box(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str = "",
    *,
    fill: str = INPUT,
    edge: str = INK,
    fontsize: float = FONT,
    lw: float = 1.0,
    ls: str = "-",
    gid: str | None = None,
    zorder: float = 2,
) -> None:
    """A rounded box with bottom-left corner ``(x, y)`` and centred text."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=fill,
            edgecolor=edge,
            lw=lw,
            ls=ls,
            zorder=zorder,
            gid=gid,
        )
    )
    if text:
        ax.text(
            x + w / 2,
            y + h / 2,
            text,
            ha="center",
            va="center",
            fontsize=fontsize,
            color=INK,
            gid=gid,
            zorder=zorder + 1,
        )


def slab(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    depth: float = 0.0,
    fill: str = INPUT,
    edge: str = INK,
    lw: float = 0.9,
    zorder: float = 1,
    shade: bool = True,
) -> None:
    """A cuboid seen from the front-right: front face bottom-left ``(x, y)``, size ``w`` x ``h``,
    receding ``depth`` up and to the right at 45 degrees."""
    d = depth / np.sqrt(2)
    ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=edge, lw=lw, zorder=zorder))
    if depth > 0:
        top = [(x, y + h), (x + d, y + h + d), (x + w + d, y + h + d), (x + w, y + h)]
        side = [(x + w, y), (x + w + d, y + d), (x + w + d, y + h + d), (x + w, y + h)]
        for pts, alpha in ((top, 0.85), (side, 0.7)):
            face = Polygon(pts, closed=True, facecolor=fill, edgecolor=edge, lw=lw, zorder=zorder)
            if shade:
                face.set_alpha(alpha)
                face.set_edgecolor(edge)
            ax.add_patch(face)


def stack(
    ax: Axes,
    x: float,
    y: float,
    size: float,
    count: int,
    *,
    offset: float = 0.35,
    fills: Sequence[str] = CHANNELS,
    grid_cells: int | None = None,
    zorder: float = 1,
) -> list[tuple[float, float]]:
    """``count`` square sheets of side ``size`` stacked back to front, front sheet's bottom-left at
    ``(x, y)``, each further one shifted up-right by ``offset``. Returns each sheet's bottom-left
    corner, front sheet first. With ``grid_cells`` each sheet is ruled into that many cells a side.
    """
    corners = [(x + k * offset, y + k * offset) for k in range(count)]
    for k in reversed(range(count)):
        cx, cy = corners[k]
        z = zorder + (count - k) * 0.01
        fill = fills[k % len(fills)]
        if grid_cells:
            grid(
                ax,
                cx,
                cy + size,
                shape=(grid_cells, grid_cells),
                cell=size / grid_cells,
                fill=fill,
                lw=0.5,
                zorder=z,
            )
            ax.add_patch(
                Rectangle((cx, cy), size, size, fill=False, edgecolor=INK, lw=1.0, zorder=z)
            )
        else:
            ax.add_patch(
                Rectangle((cx, cy), size, size, facecolor=fill, edgecolor=INK, lw=1.0, zorder=z)
            )
    return corners


def shape_text(shape: Sequence[int]) -> str:
    """``(3, 6, 6)`` as ``3 x 6 x 6`` with a true multiplication sign."""
    return " \u00d7 ".join(str(int(s)) for s in shape)
