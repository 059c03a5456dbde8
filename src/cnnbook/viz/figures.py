"""Explanatory figures of chapters 1-3: images, kernels, sliding windows, activations.

Every function returns a matplotlib ``Figure`` (or arrays for the explorers of
:mod:`cnnbook.widgets`) and computes nothing the chapter should show by itself: the numbers a
chapter talks about are computed in the chapter and passed in.

    sample_photo             a real photograph from matplotlib's sample data, grey or RGB
    classic_kernel           blur / edge / sharpen / Sobel kernels of any odd size
    image_grid               a grid of images with titles
    matrix_figure            numbers in coloured cells (worked examples)
    sliding_window_figure    one step of a kernel sliding over a small input
    conv_geometry_panel      a padded input with the taps of two kernel positions marked
    activation_figure        activation functions and their derivatives
    gradient_flow_figure     gradient size per layer for several activations
    overlay_figure           activation maps overlaid on the input image
    bar_figure               a labelled bar chart (parameter counts, timings)
    plain_log_ticks          readable ticks on a log axis that spans about a decade or less
    curves_figure            accuracy curves of several runs
    seeds_figure             one value per seed for several models: the runs, mean and range
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, MaxNLocator, NullFormatter

__all__ = [
    "sample_photo",
    "classic_kernel",
    "KERNEL_NAMES",
    "image_grid",
    "matrix_figure",
    "sliding_window_figure",
    "conv_geometry_panel",
    "activation_figure",
    "gradient_flow_figure",
    "overlay_figure",
    "bar_figure",
    "plain_log_ticks",
    "curves_figure",
    "seeds_figure",
]

KERNEL_NAMES = ("identity", "blur", "edge", "sharpen", "sobel_x", "sobel_y")


def sample_photo(size: int = 128, gray: bool = True) -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data, square-cropped and resized.

    Args:
        size: side of the square output in pixels (8 to 512).
        gray: return luminance (H, W) instead of RGB (H, W, 3).

    Returns:
        float64 array with values in [0, 1].

    Shape:
        ``(size, size)`` if ``gray`` else ``(size, size, 3)``.
    """
    import matplotlib.cbook as cbook
    import torch
    import torch.nn.functional as F

    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 512:
        raise ValueError(f"size: got {size!r}, expected an int between 8 and 512")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = plt.imread(f, format="jpeg").astype(np.float64) / 255.0  # (600, 512, 3)
    top = (photo.shape[0] - photo.shape[1]) // 2
    photo = photo[top : top + photo.shape[1]]  # the central square holds the face
    t = torch.from_numpy(photo).permute(2, 0, 1)[None]
    # Area averaging avoids the aliasing of plain subsampling.
    t = F.interpolate(t, size=(size, size), mode="area")[0].permute(1, 2, 0)
    out = t.numpy()
    if gray:
        out = out @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights
    return np.clip(out, 0.0, 1.0)


def classic_kernel(name: str, size: int = 3) -> np.ndarray:
    """A hand-designed filter of odd ``size``: the kernels image processing used before learning.

    Args:
        name: one of ``KERNEL_NAMES``: identity, blur (box average), edge (identity minus blur,
            a Laplacian-like detector), sharpen (identity plus edge), sobel_x / sobel_y (a binomial
            smoothing times a central difference; size 3 gives the classic Sobel kernels).
        size: odd kernel side, 3 to 15.

    Returns:
        float64 array of shape ``(size, size)``.
    """
    if name not in KERNEL_NAMES:
        raise ValueError(f"name: got {name!r}, expected one of {KERNEL_NAMES}")
    if isinstance(size, bool) or not isinstance(size, int) or size % 2 == 0 or not 3 <= size <= 15:
        raise ValueError(f"size: got {size!r}, expected an odd int between 3 and 15")
    identity = np.zeros((size, size))
    identity[size // 2, size // 2] = 1.0
    box = np.full((size, size), 1.0 / size**2)
    if name == "identity":
        return identity
    if name == "blur":
        return box
    if name == "edge":
        return identity - box
    if name == "sharpen":
        return identity + (identity - box) * 2.0
    # Row (size - 1) of Pascal's triangle smooths; its difference kernel differentiates.
    smooth = np.array([1.0])
    for _ in range(size - 1):
        smooth = np.convolve(smooth, [1.0, 1.0])
    diff = np.array([1.0])
    for _ in range(size - 3):
        diff = np.convolve(diff, [1.0, 1.0])
    diff = np.convolve(diff, [-1.0, 0.0, 1.0])
    sobel = np.outer(smooth, diff)  # right minus left: responds to vertical edges
    return sobel if name == "sobel_x" else sobel.T


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 2.2,
    symmetric: bool = False,
    suptitle: str | None = None,
) -> Figure:
    """Show images side by side (2-D arrays through ``cmap``, (H, W, 3) arrays as RGB).

    Args:
        images: the pictures.
        titles: one title per picture.
        ncols: pictures per row (default: all in one row).
        cmap: colormap of 2-D arrays.
        size: inches per picture.
        symmetric: colour limits symmetric around 0 (for signed filter responses).
        suptitle: a title over the whole figure.
    """
    if len(images) == 0:
        raise ValueError("images: got an empty sequence, expected at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: got {len(titles)}, expected one per image ({len(images)})")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        img = np.asarray(images[k])
        if img.ndim == 2:
            lim = np.abs(img).max() if symmetric else None
            ax.imshow(img, cmap=cmap, vmin=-lim if symmetric else None, vmax=lim)
        else:
            ax.imshow(np.clip(img, 0, 1))
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _draw_matrix(
    ax: plt.Axes,
    a: np.ndarray,
    title: str,
    fmt: str,
    cmap: str,
    highlight: tuple[int, int, int, int] | None = None,
) -> None:
    ax.imshow(a, cmap=cmap, alpha=0.55)
    for (i, j), v in np.ndenumerate(a):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=10)
    ax.set_xticks(np.arange(-0.5, a.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, a.shape[0]), minor=True)
    ax.grid(which="minor", color="k", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=10)
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(
            Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="red", linewidth=2.5)
        )


def matrix_figure(
    matrices: Sequence[np.ndarray], titles: Sequence[str], fmt: str = "{:g}", cmap: str = "Blues"
) -> Figure:
    """Matrices drawn as grids of numbers, side by side (inputs, kernels, outputs by hand)."""
    if len(matrices) != len(titles):
        raise ValueError(f"titles: got {len(titles)}, expected one per matrix ({len(matrices)})")
    widths = [np.asarray(m).shape[1] for m in matrices]
    fig, axes = plt.subplots(
        1,
        len(matrices),
        figsize=(0.55 * sum(widths) + 1.2 * len(widths), 3),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for ax, m, t in zip(axes[0], matrices, titles, strict=True):
        _draw_matrix(ax, np.asarray(m, dtype=float), t, fmt, cmap)
    fig.tight_layout()
    return fig


def sliding_window_figure(
    x: np.ndarray, w: np.ndarray, out: np.ndarray, step: int, stride: int = 1
) -> Figure:
    """One step of a kernel sliding over ``x``: the window, the kernel, the outputs so far.

    Args:
        x: a small 2-D input (already padded if padding is wanted).
        w: the 2-D kernel.
        out: the full 2-D output (computed by the caller); entries after ``step`` are hidden.
        step: index of the current output position, row-major.
        stride: step of the window in both directions.
    """
    x, w, out = (np.asarray(a, dtype=float) for a in (x, w, out))
    if not 0 <= step < out.size:
        raise ValueError(f"step: got {step!r}, expected 0 <= step < {out.size}")
    i, j = divmod(step, out.shape[1])
    r, c = i * stride, j * stride
    window = x[r : r + w.shape[0], c : c + w.shape[1]]
    shown = np.full(out.shape, np.nan)
    shown.flat[: step + 1] = out.flat[: step + 1]
    fig, axes = plt.subplots(
        1, 3, figsize=(8.5, 3), gridspec_kw={"width_ratios": [x.shape[1], w.shape[1], out.shape[1]]}
    )
    _draw_matrix(
        axes[0],
        x,
        "input (window in red)",
        "{:g}",
        "Blues",
        highlight=(r, c, w.shape[0], w.shape[1]),
    )
    _draw_matrix(axes[1], w, "kernel", "{:g}", "Oranges")
    _draw_matrix(
        axes[2],
        shown,
        f"output[{i}, {j}] = {out[i, j]:g}",
        "{:g}",
        "Greens",
        highlight=(i, j, 1, 1),
    )
    products = " + ".join(f"{a:g}·{b:g}" for a, b in zip(window.flat, w.flat, strict=True))
    fig.text(0.5, 0.01, f"{products} = {out[i, j]:g}", ha="center", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def conv_geometry_panel(
    image: np.ndarray, kernel_size: int, stride: int, padding: int, dilation: int
) -> np.ndarray:
    """The padded input as RGB with the taps of the first two kernel positions marked.

    Padding is tinted blue, the taps of the window at output (0, 0) red and those of the next
    window along the row (one stride to the right) yellow, so stride and dilation become visible.

    Returns:
        float array ``(H + 2P, W + 2P, 3)`` in [0, 1].
    """
    h, w = image.shape
    rgb = np.zeros((h + 2 * padding, w + 2 * padding, 3))
    rgb[..., 2] = 0.35  # the padded border (zeros) shows as dark blue
    rgb[padding : padding + h, padding : padding + w] = image[..., None]
    span = dilation * (kernel_size - 1) + 1
    taps = np.arange(kernel_size) * dilation
    for shift, colour in ((stride, (1.0, 0.85, 0.0)), (0, (1.0, 0.0, 0.0))):
        if shift + span <= rgb.shape[1]:
            # a light tint over the window's span, the taps themselves in full colour
            area = rgb[:span, shift : shift + span]
            area[...] = 0.6 * area + 0.4 * np.array(colour)
            for r in taps:
                for c in taps:
                    rgb[r, shift + c] = colour
    return rgb


# -- activations ------------------------------------------------------------------------------
def activation_figure(
    functions: Mapping[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]],
    x: np.ndarray | None = None,
) -> Figure:
    """Each activation and its derivative, one panel per function.

    Args:
        functions: name -> callable returning ``(f(x), f'(x))`` for an array ``x``.
        x: the abscissae (default: 401 points in [-4, 4]).
    """
    x = np.linspace(-4, 4, 401) if x is None else np.asarray(x)
    n = len(functions)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.0 * ncols, 2.4 * nrows), squeeze=False, sharex=True
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, fn) in zip(axes.flat, functions.items(), strict=False):
        y, dy = fn(x)
        ax.axhline(0, color="0.8", linewidth=0.8)
        ax.axvline(0, color="0.8", linewidth=0.8)
        ax.plot(x, y, label="f(x)")
        ax.plot(x, dy, "--", label="f'(x)")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(-1.5, 3)
    axes.flat[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def gradient_flow_figure(
    norms: Mapping[str, Sequence[float]], ylabel: str = "gradient norm", title: str = ""
) -> Figure:
    """Size of the gradient reaching each layer (first layer at the left), log scale."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for name, values in norms.items():
        ax.semilogy(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel("layer (1 = closest to the input)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def overlay_figure(
    image: np.ndarray,
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    alpha: float = 0.85,
    cmap: str = "autumn",
    threshold: float = 0.2,
) -> Figure:
    """Activation maps (stretched to the image) drawn over the grey input.

    Values at or below ``threshold`` times a map's maximum (zeros from a ReLU included) are left
    transparent, so the photo shows through wherever the filter does not respond strongly.
    """
    if len(maps) != len(titles):
        raise ValueError(f"titles: got {len(titles)}, expected one per map ({len(maps)})")
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.3 * (len(maps) + 1), 2.6))
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    extent = (-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5)
    for ax, m, t in zip(axes[1:], maps, titles, strict=True):
        ax.imshow(image, cmap="gray")
        m = np.asarray(m)
        shown = np.ma.masked_where(m <= max(threshold * m.max(), 0.0), m)
        ax.imshow(shown, cmap=cmap, alpha=alpha, extent=extent, interpolation="nearest")
        ax.set_title(t, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


# -- numbers ----------------------------------------------------------------------------------
def bar_figure(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ylabel: str = "",
    title: str = "",
    log: bool = False,
    fmt: str = "{:,.0f}",
) -> Figure:
    """A bar chart with each value written on its bar."""
    if len(labels) != len(values):
        raise ValueError(f"values: got {len(values)}, expected one per label ({len(labels)})")
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(labels)), 3.2))
    # Narrower bars than matplotlib's 0.8, and each value a few points above its bar, so that
    # neither the bars, the values nor the two-line labels under them touch.
    bars = ax.bar(range(len(values)), values, width=0.6, color="tab:blue")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


class _PlainLogLocator(Locator):
    """Ticks at 1-2-5 (or finer) steps of each decade when an axis spans at most two decades."""

    _STEPS = ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8))

    def __call__(self) -> list[float]:
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        vmin, vmax = sorted((vmin, vmax))
        if vmin <= 0 or vmax / vmin > 100:
            return list(LogLocator().tick_values(vmin, vmax))
        decades = range(int(np.floor(np.log10(vmin))), int(np.ceil(np.log10(vmax))) + 1)
        for steps in self._STEPS:
            ticks = [m * 10.0**e for e in decades for m in steps]
            ticks = [t for t in ticks if vmin <= t * (1 + 1e-9) and t <= vmax * (1 + 1e-9)]
            if len(ticks) >= 4:
                break
        return ticks


def plain_log_ticks(axis: Axis) -> None:
    """Plain-number ticks (1, 1.5, 2, 3, ...) on a log axis, whatever its final range.

    With no power of ten inside its range, matplotlib labels a log axis only at its minor ticks,
    often just ``2 x 10^0`` and ``3 x 10^0``. This puts four or more ticks on it, written as plain
    numbers, and leaves the minor ticks unlabelled. An axis spanning more than two decades keeps
    ticks at the powers of ten.

    Args:
        axis: ``ax.yaxis`` or ``ax.xaxis`` of an axis already on a log scale.
    """
    axis.set_major_locator(_PlainLogLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def curves_figure(
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "epoch",
    ylabel: str = "accuracy",
    title: str = "",
) -> Figure:
    """Several curves on one set of axes (e.g. validation accuracy of each run per epoch)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, marker="o", label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def seeds_figure(
    groups: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "",
    title: str = "",
    fmt: str = "{:.1f}",
) -> Figure:
    """One column per group: a dot per run (seed), a bar from the lowest to the highest run and
    a tick at the mean, which is written next to it.

    Args:
        groups: name -> the values of its runs (e.g. test accuracy of each seed).
        ylabel, title: axis label and title.
        fmt: format of the mean written next to each column.
    """
    if not groups or any(len(v) == 0 for v in groups.values()):
        raise ValueError("groups: expected a non-empty mapping of name -> non-empty values")
    fig, ax = plt.subplots(figsize=(max(4.5, 1.8 * len(groups)), 3.2))
    for i, values in enumerate(groups.values()):
        v = np.asarray(values, dtype=float)
        ax.vlines(i, v.min(), v.max(), color="tab:blue", lw=6, alpha=0.25)
        ax.plot(np.full(len(v), i), v, "o", color="tab:blue", ms=5)
        ax.hlines(v.mean(), i - 0.2, i + 0.2, color="k", lw=1.5)
        ax.annotate(fmt.format(v.mean()), (i + 0.24, v.mean()), va="center", fontsize=8)
    ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.2)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
