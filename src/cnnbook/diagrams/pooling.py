"""Concept diagram of chapter 4: max and average pooling, forward and backward.

    pooling_routing   2x2 windows, their max and average, and where each pooling sends dout

The numbers are computed by the book's NumPy layers (``cnnbook.numpy_ref``); the tests check
them against ``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from cnnbook import numpy_ref

from . import _style as S

__all__ = ["pooling_routing"]

_X4 = np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 2], [2, 1, 3, 4]], float)
_DOUT = np.array([[1, -2], [0.5, 3]])


def pooling_routing(x: np.ndarray = _X4, dout: np.ndarray = _DOUT, k: int = 2) -> Figure:
    """Max and average pooling of ``x`` with ``k x k`` windows and stride ``k`` (top), and the
    backward pass of each for the upstream gradient ``dout`` (bottom): max pooling routes each
    window's gradient to its arg-max, average pooling spreads it in ``k * k`` equal parts.

    Args:
        x: input ``(H, W)``, H and W multiples of ``k``.
        dout: upstream gradient, the output's shape.
        k: window side and stride.

    Returns:
        the figure; gids ``"max[i,j]"``, ``"avg[i,j]"``, ``"dx_max[i,j]"``, ``"dx_avg[i,j]"``.
    """
    x = np.asarray(x, float)
    dout = np.asarray(dout, float)
    if x.ndim != 2 or x.shape[0] % k or x.shape[1] % k:
        raise ValueError(
            f"x: got shape {x.shape}, expected a 2-D array with sides divisible by {k}"
        )
    ho, wo = x.shape[0] // k, x.shape[1] // k
    if dout.shape != (ho, wo):
        raise ValueError(f"dout: got shape {dout.shape}, expected {(ho, wo)}")
    x4 = x[None, None]
    y_max, c_max = numpy_ref.max_pool2d_forward(x4, kernel_size=k)
    y_avg, c_avg = numpy_ref.avg_pool2d_forward(x4, kernel_size=k)
    dx_max = numpy_ref.max_pool2d_backward(dout[None, None], c_max)[0, 0]
    dx_avg = numpy_ref.avg_pool2d_backward(dout[None, None], c_avg)[0, 0]
    y_max, y_avg = y_max[0, 0], y_avg[0, 0]
    palette = S.CHANNELS
    win = np.empty(x.shape, dtype=object)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            win[i, j] = palette[((i // k) * wo + j // k) % len(palette)]
    out_fill = np.array(
        [[palette[(i * wo + j) % len(palette)] for j in range(wo)] for i in range(ho)], dtype=object
    )
    # arg-max of each window, as max pooling's backward pass picks it (first maximum)
    argmax = {}
    for i in range(ho):
        for j in range(wo):
            block = x[i * k : (i + 1) * k, j * k : (j + 1) * k]
            a, b = np.unravel_index(np.argmax(block), block.shape)
            argmax[i, j] = (i * k + a, j * k + b)
    fig, ax = S.canvas(9, 6)
    h, w = x.shape
    # --- forward
    S.grid(ax, 0, 0, x, fill=win)
    for a, b in argmax.values():
        S.outline(ax, 0, 0, a, b, 1, 1, color=S.INK, lw=2)
    S.label(ax, w / 2, 0.2, "input X, 2\u00d72 windows")
    S.grid(ax, w + 2, -(h - ho) / 2, y_max, fill=out_fill, gid="max")
    S.label(ax, w + 2 + wo / 2, -(h - ho) / 2 + 0.2, "max pooling")
    S.grid(ax, w + wo + 4, -(h - ho) / 2, y_avg, fill=out_fill, gid="avg")
    S.label(ax, w + wo + 4 + wo / 2, -(h - ho) / 2 + 0.2, "average pooling")
    S.arrow(ax, (w + 0.2, -h / 2), (w + 1.8, -h / 2))
    S.label(
        ax,
        w + 2 + wo / 2,
        -(h + ho) / 2 - 0.3,
        "largest value\n(outlined in X)",
        va="top",
        fontsize=9,
    )
    S.label(
        ax,
        w + wo + 4 + wo / 2,
        -(h + ho) / 2 - 0.3,
        f"mean of the\n{k * k} values",
        va="top",
        fontsize=9,
    )
    # --- backward
    top = -h - 2.2
    S.grid(ax, 0, top - (h - ho) / 2, dout, fill=out_fill)
    S.label(ax, wo / 2, top - (h - ho) / 2 + 0.2, "dout")
    xm = wo + 2.2
    dfill = np.where(dx_max != 0, win, "white").astype(object)
    S.grid(ax, xm, top, dx_max, fill=dfill, gid="dx_max")
    S.label(ax, xm + w / 2, top + 0.2, "max pooling: dX")
    for (i, j), (a, b) in argmax.items():
        S.arrow(
            ax,
            S.centre(0, top - (h - ho) / 2, i, j),
            S.centre(xm, top, a, b),
            color=S.FOCUS,
            lw=1.0,
            rad=0.15,
            shrink=(9, 9),
        )
    xa = xm + w + 1.5
    S.grid(ax, xa, top, dx_avg, fill=win, gid="dx_avg", digits=3, fontsize=8.5)
    S.label(ax, xa + w / 2, top + 0.2, "average pooling: dX")
    S.label(
        ax,
        xm + w / 2,
        top - h - 0.2,
        "each window's gradient goes whole\nto its arg-max, 0 elsewhere",
        va="top",
        fontsize=9,
    )
    S.label(
        ax,
        xa + w / 2,
        top - h - 0.2,
        f"each input gets 1/{k * k}\nof its window's gradient",
        va="top",
        fontsize=9,
    )
    S.fit(ax, scale=0.36)
    return fig
