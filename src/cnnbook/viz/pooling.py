"""Figures and measurements of the pooling chapter (chapter 4).

Everything here works on single-channel 2-D images (H, W) so that a figure can show them
directly. The pooling itself is done by ``torch.nn.functional`` (the oracle of the book); the
chapter checks the book's own NumPy layers (``cnnbook.numpy_ref``) against the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnbook.widgets import Explorer, Frame, png_bytes

__all__ = [
    "POOL_MODES",
    "edge_map",
    "filter_bank_maps",
    "pool2d",
    "strided_conv2d",
    "repeated_pool",
    "count_blobs",
    "poolings",
    "shift_sensitivity",
    "window_coverage",
    "plot_dots_pooling",
    "plot_downsampling",
    "plot_pool_windows",
    "plot_pool_backward",
    "plot_shift_sensitivity",
    "plot_global_avg_pool",
    "pooling_explorer",
]

#: The pooling types this module knows. ``"maxblur"`` is Zhang's anti-aliased max pooling
#: (max with stride 1, then a binomial blur with the stride), see ``pool2d``.
POOL_MODES = ("max", "avg", "sum", "min", "maxblur")

# A 3x3 binomial low-pass filter, the blur of Zhang (2019): the outer product of [1, 2, 1] / 4.
_BLUR3 = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0


def _check_image(img: np.ndarray, name: str = "img") -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (H, W), got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {img.dtype}")
    return img.astype(np.float64, copy=False)


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def edge_map(img: np.ndarray) -> np.ndarray:
    """A feature map as a first convolutional layer might compute it: ReLU(vertical-edge Sobel).

    The photograph of the chapters is :func:`cnnbook.viz.figures.sample_photo`.

    Args:
        img: a grey image.

    Returns:
        Non-negative responses to dark-to-bright vertical edges ("same" size, zero padding).

    Shape:
        ``(H, W)`` in, ``(H, W)`` out.
    """
    img = _check_image(img)
    sobel_x = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    out = strided_conv2d(img, sobel_x, stride=1, padding=1)
    return np.maximum(out, 0.0)


def filter_bank_maps(img: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Feature maps of a small fixed filter bank after ReLU, a stand-in for a first conv layer.

    The bank: Sobel edges in four directions (left-to-right, right-to-left, top-to-bottom,
    bottom-to-top), a centre-surround spot detector and a 3x3 blur.

    Args:
        img: a grey image.

    Returns:
        ``(maps, names)``: the ReLU'd responses ("same" size, zero padding) and one name per map.

    Shape:
        ``(H, W)`` in, ``(6, H, W)`` out.
    """
    img = _check_image(img)
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    bank = {
        "edge: dark to bright (x)": sobel,
        "edge: bright to dark (x)": -sobel,
        "edge: dark to bright (y)": sobel.T,
        "edge: bright to dark (y)": -sobel.T,
        "bright spot": np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / 8,
        "blur": _BLUR3,
    }
    maps = np.stack([np.maximum(strided_conv2d(img, k, 1, 1), 0.0) for k in bank.values()])
    return maps, list(bank)


def pool2d(
    img: np.ndarray, kernel_size: int = 2, stride: int | None = None, mode: str = "max"
) -> np.ndarray:
    """Pool a single-channel image with one of :data:`POOL_MODES`.

    ``"min"`` is ``-max(-x)``; ``"sum"`` is the average times the window area; ``"maxblur"`` takes
    the max over each window with stride 1 and then low-passes with a 3x3 binomial filter applied
    with the stride and zero padding 1 (anti-aliased pooling, Zhang 2019); its output has the
    same size as plain max pooling.

    Args:
        img: a 2-D image.
        kernel_size: side of the square window.
        stride: step between windows; ``None`` means ``kernel_size`` (no overlap).
        mode: one of ``"max"``, ``"avg"``, ``"sum"``, ``"min"``, ``"maxblur"``.

    Returns:
        The pooled image (float64).

    Shape:
        ``(H, W)`` in, ``(floor((H - k) / s) + 1, floor((W - k) / s) + 1)`` out, for every mode.
    """
    img = _check_image(img)
    k = _check_positive_int(kernel_size, "kernel_size")
    s = k if stride is None else _check_positive_int(stride, "stride")
    if mode not in POOL_MODES:
        raise ValueError(f"mode: expected one of {POOL_MODES}, got {mode!r}")
    if k > min(img.shape):
        raise ValueError(f"kernel_size: {k} is larger than the image {img.shape}")
    t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
    if mode == "max":
        out = F.max_pool2d(t, k, s)
    elif mode == "min":
        out = -F.max_pool2d(-t, k, s)
    elif mode == "avg":
        out = F.avg_pool2d(t, k, s)
    elif mode == "sum":
        out = F.avg_pool2d(t, k, s) * (k * k)
    else:  # maxblur: dense max, then blur-and-subsample
        dense = F.max_pool2d(t, k, 1)
        blur = torch.from_numpy(_BLUR3)[None, None]
        out = F.conv2d(dense, blur, stride=s, padding=1)
    return out[0, 0].numpy()


def strided_conv2d(
    img: np.ndarray, kernel: np.ndarray, stride: int = 2, padding: int = 0
) -> np.ndarray:
    """Cross-correlate a 2-D image with a 2-D kernel, with a stride (a learnable downsampler).

    Args:
        img: a 2-D image.
        kernel: a 2-D kernel.
        stride: step of the kernel.
        padding: zeros added on every side.

    Returns:
        The feature map (float64).

    Shape:
        ``(H, W)`` and ``(kH, kW)`` in, ``(floor((H + 2P - kH) / S) + 1, ...)`` out.
    """
    img = _check_image(img)
    kernel = _check_image(kernel, "kernel")
    s = _check_positive_int(stride, "stride")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding: expected a non-negative int, got {padding!r}")
    t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
    w = torch.from_numpy(np.ascontiguousarray(kernel))[None, None]
    return F.conv2d(t, w, stride=s, padding=int(padding))[0, 0].numpy()


def repeated_pool(
    img: np.ndarray, levels: int, kernel_size: int = 2, mode: str = "max"
) -> list[np.ndarray]:
    """Apply the same pooling ``levels`` times, keeping every intermediate result.

    Args:
        img: a 2-D image.
        levels: how many poolings (each with stride = kernel size).
        kernel_size: side of the window.
        mode: see :func:`pool2d`.

    Returns:
        ``[img, pool(img), pool(pool(img)), ...]``, ``levels + 1`` arrays.

    Shape:
        with ``kernel_size=2``, entry ``i`` is ``(H // 2**i, W // 2**i)``.
    """
    levels = _check_positive_int(levels, "levels")
    maps = [_check_image(img)]
    for _ in range(levels):
        maps.append(pool2d(maps[-1], kernel_size, mode=mode))
    return maps


def poolings(n: int) -> str:
    """``n`` with the right noun for the chapter's sentences: "1 pooling", "3 poolings".

    Raises:
        ValueError: when ``n`` is not an int >= 0.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an int >= 0, got {n!r}")
    return f"{int(n)} pooling" + ("" if n == 1 else "s")


def count_blobs(img: np.ndarray, threshold: float = 0.5) -> int:
    """Count the 8-connected groups of pixels brighter than ``threshold * img.max()``.

    A pure-NumPy flood fill (no SciPy), fast enough for the small images of the chapter.

    Args:
        img: a 2-D image.
        threshold: fraction of the maximum above which a pixel counts as "on", in (0, 1].

    Returns:
        The number of separate bright regions (0 for an all-zero image).
    """
    img = _check_image(img)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: expected a value in (0, 1], got {threshold!r}")
    peak = img.max()
    if peak <= 0:
        return 0
    on = img >= threshold * peak
    seen = np.zeros_like(on)
    h, w = on.shape
    blobs = 0
    for i0, j0 in zip(*np.nonzero(on), strict=True):
        if seen[i0, j0]:
            continue
        blobs += 1
        stack = [(i0, j0)]
        seen[i0, j0] = True
        while stack:
            i, j = stack.pop()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    a, b = i + di, j + dj
                    if 0 <= a < h and 0 <= b < w and on[a, b] and not seen[a, b]:
                        seen[a, b] = True
                        stack.append((a, b))
    return blobs


def shift_sensitivity(
    img: np.ndarray,
    shifts: Sequence[int],
    modes: Sequence[str] = ("none", "max", "avg", "maxblur"),
    levels: int = 2,
    metric: str = "change",
) -> dict[str, np.ndarray]:
    """How a representation reacts when the input moves sideways by a few pixels.

    For each shift ``s`` the image is rolled (circularly, so no content leaves the frame) by ``s``
    pixels to the right and pooled ``levels`` times with 2x2 windows (``r`` below). Mode
    ``"none"`` uses the raw image (no pooling). Two metrics:

    - ``"change"`` (invariance): ``||r(roll(x, s)) - r(x)|| / ||r(x)||``, how much the
      representation changed;
    - ``"equivariance"``: ``min_c ||r(roll(x, s)) - roll(r(x), c)|| / ||r(x)||``, how far the
      representation of the shifted input is from the nearest *shifted copy* of the original
      representation. It is 0 for raw pixels and for shifts that are multiples of ``2**levels``,
      and measures aliasing otherwise.

    Args:
        img: a 2-D image, its sides divisible by ``2**levels``.
        shifts: horizontal shifts in pixels (non-negative).
        modes: ``"none"`` and/or entries of :data:`POOL_MODES`.
        levels: number of 2x2 poolings.
        metric: ``"change"`` or ``"equivariance"``.

    Returns:
        ``{mode: relative value per shift}``, each an array of ``len(shifts)`` floats.
    """
    img = _check_image(img)
    levels = _check_positive_int(levels, "levels")
    if any(side % 2**levels for side in img.shape):
        raise ValueError(f"img: sides {img.shape} must be divisible by 2**levels = {2**levels}")
    shifts = [int(s) for s in shifts]
    if not shifts or min(shifts) < 0:
        raise ValueError(f"shifts: expected non-negative ints, got {shifts}")
    for mode in modes:
        if mode != "none" and mode not in POOL_MODES:
            raise ValueError(f"modes: {mode!r} is not 'none' or one of {POOL_MODES}")
    if metric not in ("change", "equivariance"):
        raise ValueError(f"metric: expected 'change' or 'equivariance', got {metric!r}")

    def represent(x: np.ndarray, mode: str) -> np.ndarray:
        if mode == "none":
            return x
        if mode == "maxblur":  # keep the circular geometry: wrap-pad instead of zero-pad
            for _ in range(levels):
                x = _circular_maxblur(x)
            return x
        return repeated_pool(x, levels, 2, mode)[-1]

    result = {}
    for mode in modes:
        ref = represent(img, mode)
        norm = np.linalg.norm(ref)
        candidates = (
            [ref] if metric == "change" else [np.roll(ref, c, axis=1) for c in range(ref.shape[1])]
        )
        values = []
        for s in shifts:
            moved = represent(np.roll(img, s, axis=1), mode)
            values.append(min(np.linalg.norm(moved - cand) for cand in candidates) / norm)
        result[mode] = np.asarray(values)
    return result


def _circular_maxblur(x: np.ndarray) -> np.ndarray:
    """Anti-aliased 2x2 max pooling with circular padding (keeps rolls exact for the test)."""
    t = torch.from_numpy(np.ascontiguousarray(x))[None, None]
    dense = F.max_pool2d(F.pad(t, (0, 1, 0, 1), mode="circular"), 2, 1)
    blur = torch.from_numpy(_BLUR3)[None, None]
    return F.conv2d(F.pad(dense, (1, 1, 1, 1), mode="circular"), blur, stride=2)[0, 0].numpy()


def window_coverage(size: int, kernel_size: int, stride: int) -> np.ndarray:
    """How many pooling windows contain each input position, along one axis.

    Args:
        size: input length.
        kernel_size: window length.
        stride: step between windows.

    Returns:
        An int array of length ``size``: 0 means the position is never seen (it falls off the
        end), 2 means two overlapping windows see it.
    """
    size = _check_positive_int(size, "size")
    k = _check_positive_int(kernel_size, "kernel_size")
    s = _check_positive_int(stride, "stride")
    if k > size:
        raise ValueError(f"kernel_size: {k} is larger than size {size}")
    count = np.zeros(size, dtype=np.int64)
    for start in range(0, size - k + 1, s):
        count[start : start + k] += 1
    return count


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def _imshow(ax: plt.Axes, img: np.ndarray, title: str, cmap: str = "gray") -> None:
    ax.imshow(img, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_dots_pooling(
    images: dict[str, np.ndarray], levels: int = 3, mode: str = "max", threshold: float = 0.5
) -> Figure:
    """One row per image: the image, then the result of each 2x2 pooling, with the blob count.

    Args:
        images: ``{row label: 2-D image}``, e.g. ``{"near": ..., "far": ...}``.
        levels: number of successive 2x2 poolings.
        mode: see :func:`pool2d`.
        threshold: passed to :func:`count_blobs` for the titles.

    Returns:
        The figure (``len(images)`` rows, ``levels + 1`` columns).
    """
    if not images:
        raise ValueError("images: expected at least one image, got an empty dict")
    fig, axes = plt.subplots(
        len(images), levels + 1, figsize=(2.0 * (levels + 1), 2.1 * len(images)), squeeze=False
    )
    for row, (label, img) in enumerate(images.items()):
        for col, m in enumerate(repeated_pool(img, levels, 2, mode)):
            blobs = count_blobs(m, threshold)
            what = "input" if col == 0 else f"{col} x pool"
            _imshow(
                axes[row, col], m, f"{label}: {what}\n{m.shape[0]}x{m.shape[1]}, {blobs} blob(s)"
            )
    fig.tight_layout()
    return fig


def plot_downsampling(panels: dict[str, np.ndarray]) -> Figure:
    """Show several downsampled versions of one image side by side, each at its own resolution.

    Args:
        panels: ``{title: 2-D image}``; the sizes are appended to the titles.

    Returns:
        The figure (one row).
    """
    if not panels:
        raise ValueError("panels: expected at least one image, got an empty dict")
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
    for ax, (title, img) in zip(axes[0], panels.items(), strict=True):
        img = _check_image(img, "panels")
        _imshow(ax, img, f"{title}\n{img.shape[0]}x{img.shape[1]}")
    fig.tight_layout()
    return fig


def plot_pool_windows(x: np.ndarray, kernel_size: int, stride: int, mode: str = "max") -> Figure:
    """A small grid of numbers with its pooling windows outlined, and the pooled output beside it.

    The shading counts how many windows see each cell (darker: more than one, when windows
    overlap; white: none, when the stride is larger than the window). Without overlap every window
    is outlined; with overlap only the windows of the first output row are, to stay legible. Each
    outline and the output cell it produces share a colour; for max pooling the winning input of
    each window is printed in bold.

    Args:
        x: a small 2-D array (at most 12x12 to stay legible).
        kernel_size: window side.
        stride: step between windows.
        mode: see :func:`pool2d` (not ``"maxblur"``).

    Returns:
        The figure (input on the left, output on the right).
    """
    x = _check_image(x, "x")
    if max(x.shape) > 12:
        raise ValueError(f"x: expected at most 12x12 to stay legible, got {x.shape}")
    if mode == "maxblur":
        raise ValueError("mode: 'maxblur' has no simple window picture; use max, avg, sum or min")
    k = _check_positive_int(kernel_size, "kernel_size")
    s = _check_positive_int(stride, "stride")
    out = pool2d(x, k, s, mode)
    cover = np.outer(window_coverage(x.shape[0], k, s), window_coverage(x.shape[1], k, s))
    rows_drawn = out.shape[0] if s >= k else 1
    fig, (ax_in, ax_out) = plt.subplots(
        1, 2, figsize=(7.5, 3.6), gridspec_kw={"width_ratios": [x.shape[1], max(out.shape[1], 2)]}
    )
    ax_in.imshow(cover, cmap="Blues", vmin=0, vmax=max(cover.max(), 1) + 2.5)
    colours = plt.get_cmap("tab10")
    winners = set()
    for oi in range(out.shape[0]):
        for oj in range(out.shape[1]):
            window = x[oi * s : oi * s + k, oj * s : oj * s + k]
            a, b = np.unravel_index(int(np.argmax(window)), window.shape)
            winners.add((oi * s + a, oj * s + b))
            colour = colours((oi * out.shape[1] + oj) % 10)
            if oi < rows_drawn:
                inset = 0.08 * (oj % 2)  # neighbouring outlines side by side, not on top
                ax_in.add_patch(
                    Rectangle(
                        (oj * s - 0.5 + inset, oi * s - 0.5 + inset),
                        k - 2 * inset,
                        k - 2 * inset,
                        fill=False,
                        lw=2.0,
                        ec=colour,
                    )
                )
                ax_out.add_patch(
                    Rectangle((oj - 0.45, oi - 0.45), 0.9, 0.9, fill=False, lw=2.0, ec=colour)
                )
    for (i, j), v in np.ndenumerate(x):
        bold = mode == "max" and (i, j) in winners
        ax_in.text(
            j,
            i,
            f"{v:g}",
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold" if bold else "normal",
        )
    outlined = "all windows" if rows_drawn == out.shape[0] else "windows of the first output row"
    ax_in.set_title(
        f"input {x.shape[0]}x{x.shape[1]}, {k}x{k} windows, stride {s}\n"
        f"(outlined: {outlined}; shade: windows per cell)",
        fontsize=9,
    )
    ax_out.imshow(out, cmap="Oranges", vmin=out.min() - 0.5 * (np.ptp(out) + 1), vmax=out.max())
    for (i, j), v in np.ndenumerate(out):
        ax_out.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8)
    ax_out.set_title(f"{mode} pool output {out.shape[0]}x{out.shape[1]}", fontsize=9)
    for ax in (ax_in, ax_out):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_pool_backward(
    x: np.ndarray, dout: np.ndarray, grads: dict[str, np.ndarray], kernel_size: int = 2
) -> Figure:
    """Input, upstream gradient, and one panel per pooling type with the gradient it sends back.

    Args:
        x: the pooled input, 2-D.
        dout: the upstream gradient, 2-D, the shape of the pooled output.
        grads: ``{title: dx}``, each the shape of ``x`` (e.g. max and average pooling).
        kernel_size: window side, to draw the (non-overlapping) windows.

    Returns:
        The figure (one row).
    """
    x = _check_image(x, "x")
    dout = _check_image(dout, "dout")
    for name, g in grads.items():
        if np.shape(g) != x.shape:
            raise ValueError(f"grads[{name!r}]: expected shape {x.shape}, got {np.shape(g)}")
    panels = {"input x": x, "upstream dout": dout, **{k: _check_image(v) for k, v in grads.items()}}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.0))
    for ax, (title, arr) in zip(axes, panels.items(), strict=True):
        if title == "input x":  # values: light greys, so that the numbers stay readable
            span = float(np.ptp(arr)) or 1.0
            limits = (arr.min() - 0.2 * span, arr.max() + 1.5 * span)
            cmap = "Greys"
        else:  # gradients: signed, white at zero
            limits = (-np.abs(arr).max() - 1e-12, np.abs(arr).max() + 1e-12)
            cmap = "RdBu_r"
        ax.imshow(arr, cmap=cmap, vmin=limits[0], vmax=limits[1])
        for (i, j), v in np.ndenumerate(arr):
            strong = cmap == "RdBu_r" and abs(v) > 0.6 * limits[1]
            colour = "white" if strong else "black"
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color=colour)
        if arr.shape == x.shape:
            for i in range(0, x.shape[0] - kernel_size + 1, kernel_size):
                for j in range(0, x.shape[1] - kernel_size + 1, kernel_size):
                    ax.add_patch(
                        Rectangle(
                            (j - 0.5, i - 0.5),
                            kernel_size,
                            kernel_size,
                            fill=False,
                            lw=1.5,
                            ec="black",
                        )
                    )
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_shift_sensitivity(
    shifts: Sequence[int],
    changes: dict[str, np.ndarray],
    equivariance: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Relative change of each representation against the input shift, and optionally the
    distance to the nearest shifted copy (see :func:`shift_sensitivity`).

    Args:
        shifts: the shifts in pixels.
        changes: ``{mode: values per shift}`` for the ``"change"`` metric.
        equivariance: the same for the ``"equivariance"`` metric, drawn in a second panel.

    Returns:
        The figure (one or two panels).
    """
    labels = {
        "none": "no pooling (pixels)",
        "max": "max pool",
        "avg": "average pool",
        "maxblur": "anti-aliased max pool",
        "sum": "sum pool",
        "min": "min pool",
    }
    panels = {"change of the representation": changes}
    if equivariance is not None:
        panels["distance to the nearest shifted copy"] = equivariance
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, values_by_mode) in zip(axes[0], panels.items(), strict=True):
        for mode, values in values_by_mode.items():
            if len(values) != len(shifts):
                raise ValueError(
                    f"{mode!r}: expected {len(shifts)} values (one per shift), got {len(values)}"
                )
            ax.plot(list(shifts), values, marker="o", label=labels.get(mode, mode))
        ax.set_xlabel("horizontal shift of the input (pixels)")
        ax.set_ylabel("relative to the norm")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(list(shifts))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_global_avg_pool(
    fmaps: np.ndarray, names: Sequence[str] | None = None, max_channels: int = 6
) -> Figure:
    """A few feature maps of one image and the single number global average pooling keeps of each.

    Args:
        fmaps: feature maps of one image.
        names: optional title per channel (default "channel i").
        max_channels: how many channels to draw.

    Returns:
        The figure (maps on top, a bar chart of the channel means below).

    Shape:
        ``fmaps``: ``(C, H, W)``.
    """
    fmaps = np.asarray(fmaps, dtype=np.float64)
    if fmaps.ndim != 3:
        raise ValueError(f"fmaps: expected a 3-D array (C, H, W), got shape {fmaps.shape}")
    c = min(fmaps.shape[0], _check_positive_int(max_channels, "max_channels"))
    if names is not None and len(names) < c:
        raise ValueError(f"names: expected at least {c} names, got {len(names)}")
    titles = [f"channel {i}" for i in range(c)] if names is None else list(names[:c])
    means = fmaps[:c].mean(axis=(1, 2))
    fig = plt.figure(figsize=(1.8 * c, 3.8))
    grid = fig.add_gridspec(2, c, height_ratios=[1.0, 0.8])
    for i in range(c):
        _imshow(fig.add_subplot(grid[0, i]), fmaps[i], titles[i].replace(": ", ":\n"), "viridis")
    ax = fig.add_subplot(grid[1, :])
    ax.bar(range(c), means, color="tab:orange")
    ax.set_xticks(range(c), titles, fontsize=7)
    ax.set_ylabel("global average")
    fig.tight_layout()
    return fig


def pooling_explorer(
    images: dict[str, np.ndarray],
    kernel_sizes: Sequence[int] = (2, 3, 4),
    strides: Sequence[int] = (1, 2, 3, 4),
    modes: Sequence[str] = ("max", "avg", "min", "maxblur"),
    scale: float = 3.0,
) -> Explorer:
    """An explorer of window size, stride and pooling type on a few images.

    Every frame shows the input and its pooled version at the same display size (the output is
    enlarged with nearest-neighbour repetition), so the loss of resolution is visible; the caption
    gives the output size, the share of activations kept and, for the dots, the number of
    separate blobs. Works in a live kernel and, precomputed, on the
    website (see :class:`cnnbook.widgets.Explorer`).

    Args:
        images: ``{name: 2-D image}``, e.g. a photograph and two dot images.
        kernel_sizes: window sides offered.
        strides: strides offered.
        modes: entries of :data:`POOL_MODES` offered.
        scale: display magnification of the images.

    Returns:
        A :class:`cnnbook.widgets.Explorer`.
    """
    if not images:
        raise ValueError("images: expected at least one image, got an empty dict")
    images = {name: _check_image(img, f"images[{name!r}]") for name, img in images.items()}
    for mode in modes:
        if mode not in POOL_MODES:
            raise ValueError(f"modes: {mode!r} is not one of {POOL_MODES}")
    originals = {
        name: png_bytes(img, vmin=img.min(), vmax=img.max()) for name, img in images.items()
    }

    def render(image: str, mode: str, kernel_size: int, stride: int) -> Frame:
        img = images[image]
        out = pool2d(img, kernel_size, stride, mode)
        kept = out.size / img.size
        caption = (
            f"{img.shape[0]}x{img.shape[1]} &rarr; {out.shape[0]}x{out.shape[1]} "
            f"({100 * kept:.1f}% of the activations kept, {100 * (1 - kept):.1f}% dropped)"
        )
        if stride < kernel_size:
            caption += "; windows overlap"
        elif stride > kernel_size:
            caption += "; some inputs fall between windows and are never seen"
        if image.startswith("dots"):
            caption += f"; blobs: {count_blobs(img)} &rarr; {count_blobs(out)}"
        # Nearest-neighbour enlargement to the input's size: each output cell becomes a block.
        rows = np.arange(img.shape[0]) * out.shape[0] // img.shape[0]
        cols = np.arange(img.shape[1]) * out.shape[1] // img.shape[1]
        shown = out[np.ix_(rows, cols)]
        return Frame(
            images=[originals[image], png_bytes(shown, vmin=img.min(), vmax=img.max())],
            caption=caption,
        )

    return Explorer(
        "Pooling explorer: window, stride and type",
        {
            "image": list(images),
            "mode": list(modes),
            "kernel_size": [int(k) for k in kernel_sizes],
            "stride": [int(s) for s in strides],
        },
        render,
        labels={"kernel_size": "window", "mode": "pooling"},
        initial={"kernel_size": 2, "stride": 2} if 2 in kernel_sizes and 2 in strides else None,
        scale=scale,
    )
