"""Rasterise characters from the fonts matplotlib ships, once, at a high resolution.

Each glyph is drawn from its outline (``matplotlib.textpath.TextPath``) with the even-odd rule, so
the holes of "0", "8" or "A" stay open, then box-filtered down from a 4x finer grid (anti-aliasing).
The glyph is scaled so that its larger side fills a fixed fraction of the canvas and centred on its
bounding box; the random transforms of :mod:`cnnbook.data.synth` start from these masters.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

__all__ = ["TRAIN_FONTS", "HELD_OUT_FONTS", "font_path", "render_glyph", "glyph_bank"]

# Font files of matplotlib's own data folder (present in every matplotlib >= 3.0 install).
# Several families and weights give the variety; test images also use HELD_OUT_FONTS, which the
# training images never see, so test accuracy measures generalisation to unseen type faces.
TRAIN_FONTS: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
)
HELD_OUT_FONTS: tuple[str, ...] = (
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneralBolIta.ttf",
    "cmtt10.ttf",
)

_SUPERSAMPLE = 4


def font_path(filename: str) -> Path:
    """Path of one of matplotlib's bundled font files.

    Args:
        filename: a file name such as ``"DejaVuSans.ttf"``.

    Returns:
        The absolute path of the file inside ``matplotlib.get_data_path()``.

    Raises:
        ValueError: if matplotlib does not ship a font of that name.
    """
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / filename
    if not path.is_file():
        raise ValueError(
            f"filename: matplotlib ships no font {filename!r} (looked in {path.parent})"
        )
    return path


def render_glyph(char: str, font: str, size: int = 64, fill: float = 0.72) -> np.ndarray:
    """Draw one character as a grey image, white ink on black, centred and size-normalised.

    Args:
        char: a single character.
        font: file name of a font that matplotlib ships (see :data:`TRAIN_FONTS`).
        size: side of the square output image in pixels.
        fill: fraction of the side taken by the glyph's larger dimension.

    Returns:
        float32 array of shape ``(size, size)`` with values in [0, 1] (pixel coverage).
    """
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"char: expected a single character, got {char!r}")
    if size < 4:
        raise ValueError(f"size: expected at least 4 pixels, got {size}")
    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill: expected a fraction in (0, 1], got {fill}")
    outline = TextPath((0, 0), char, size=1.0, prop=FontProperties(fname=str(font_path(font))))
    box = outline.get_extents()
    extent = max(box.width, box.height) / fill  # font units covered by the whole canvas
    n = size * _SUPERSAMPLE
    centres = (np.arange(n) + 0.5) / n - 0.5  # sample points, canvas units, centred on 0
    xs = box.x0 + box.width / 2 + centres * extent
    ys = box.y0 + box.height / 2 - centres * extent  # image rows grow downwards
    inside = _even_odd_fill(outline.to_polygons(closed_only=True), xs, ys)
    coverage = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
    return coverage.astype(np.float32)


@functools.lru_cache(maxsize=16)
def glyph_bank(chars: str, fonts: tuple[str, ...], size: int = 64) -> np.ndarray:
    """Every character in every font, rendered once (cached for the process).

    Args:
        chars: the characters, one per class, in class order.
        fonts: font file names.
        size: side of each master image.

    Returns:
        Read-only float32 array of shape ``(len(fonts), len(chars), size, size)``.
    """
    bank = np.stack([np.stack([_cached_glyph(c, f, size) for c in chars]) for f in fonts])
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=1024)
def _cached_glyph(char: str, font: str, size: int) -> np.ndarray:
    """One master glyph, rendered once per process (train and test banks share them)."""
    return render_glyph(char, font, size)


def _even_odd_fill(polygons: list[np.ndarray], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Scanline fill with the even-odd rule: a sample is inside when a ray from it to the left
    crosses the outline an odd number of times (so holes, crossed twice, stay empty).

    Returns a boolean array of shape ``(len(ys), len(xs))``.
    """
    start = np.concatenate([p[:-1] for p in polygons])  # every edge of every closed contour
    end = np.concatenate([p[1:] for p in polygons])
    (x0, y0), (x1, y1) = start.T, end.T
    y = ys[:, None]
    crosses = (y0 <= y) != (y1 <= y)  # half-open rule: a vertex on the scanline counts once
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    rows, edges = np.nonzero(crosses)
    # Each crossing flips the parity of every sample to its right: histogram the first such
    # sample per row, then a running sum along the row counts the crossings left of each sample.
    first_right = np.searchsorted(xs, x_at[rows, edges], side="right")
    hits = np.zeros((len(ys), len(xs) + 1), dtype=np.int64)
    np.add.at(hits, (rows, first_right), 1)
    return np.cumsum(hits[:, :-1], axis=1) % 2 == 1
