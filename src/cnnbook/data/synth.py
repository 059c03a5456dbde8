"""Generate glyph datasets: random affine copies of font glyphs, with stroke, blur, noise, clutter.

The pipeline is vectorised over a whole chunk of images (no Python loop per image):

1. pick a master glyph per image (class x font) from :func:`cnnbook.data.glyphs.glyph_bank`;
2. warp it with one random affine map per image (rotation, scale, shear, shift) through
   ``affine_grid`` + ``grid_sample``, onto a canvas twice the output size;
3. thin or thicken the strokes by grey-level erosion/dilation (min/max pooling);
4. average-pool down to the output size (anti-aliasing);
5. add clutter strokes, blur, contrast changes and Gaussian noise.

Every random number comes from one NumPy generator seeded by (seed, dataset, split), so a dataset
is a pure function of its arguments and the train and test splits use disjoint streams.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from cnnbook.data.glyphs import HELD_OUT_FONTS, TRAIN_FONTS, glyph_bank

__all__ = [
    "GlyphStyle",
    "DEFAULT_STYLE",
    "style_from_overrides",
    "make_glyph_dataset",
    "GLYPH_SETS",
]

# The characters of each glyph dataset, one per class, in label order.
GLYPH_SETS: dict[str, str] = {
    "glyph-digits": "0123456789",
    "glyph-letters": "ABCDEFGHIJ",
}
_DATASET_CODES = {"glyph-digits": 1, "glyph-letters": 2}
_SPLIT_CODES = {"train": 0, "test": 1}
_CHUNK = 2048  # images per vectorised step: bounds memory, fixed so results do not depend on n


@dataclass(frozen=True)
class GlyphStyle:
    """Ranges of the random variations (uniform draws unless said otherwise).

    Attributes:
        rotation: largest rotation, degrees (either sign).
        scale: (low, high) size factor of the glyph.
        aspect: largest relative change of width against height.
        shear: largest horizontal shear factor (either sign).
        shift: largest translation in output pixels, per axis (either sign).
        shift_std: if set, translations are normal with this standard deviation (pixels),
            clipped to ``shift``; otherwise uniform in ``[-shift, shift]``.
        stroke_probs: probabilities of (thinner, unchanged, thicker, much thicker) strokes.
        ink: (low, high) brightness of the strokes.
        background: largest background grey level.
        blur: probability that an image is blurred (by a random amount).
        noise: largest standard deviation of the additive Gaussian noise.
        clutter: probability of each of two short distractor strokes.
        elastic: largest local displacement in output pixels of a smooth random warp (a 4x4
            grid of random offsets, interpolated), which bends strokes like handwriting.
    """

    rotation: float = 10.0
    scale: tuple[float, float] = (0.85, 1.1)
    aspect: float = 0.12
    shear: float = 0.15
    shift: float = 3.0
    shift_std: float | None = None
    stroke_probs: tuple[float, float, float, float] = (0.15, 0.45, 0.3, 0.1)
    ink: tuple[float, float] = (0.7, 1.0)
    background: float = 0.1
    blur: float = 0.25
    noise: float = 0.05
    clutter: float = 0.25
    elastic: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "aspect", "shear", "shift", "background", "noise", "elastic"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name}: expected a non-negative number, got {getattr(self, name)}"
                )
        for name in ("scale", "ink"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"{name}: expected (low, high) with 0 < low <= high, got {(low, high)}"
                )
        for name in ("blur", "clutter"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"{name}: expected a probability in [0, 1], got {getattr(self, name)}"
                )
        probs = self.stroke_probs
        if len(probs) != 4 or min(probs) < 0 or abs(sum(probs) - 1) > 1e-6:
            raise ValueError(f"stroke_probs: expected 4 probabilities summing to 1, got {probs}")


DEFAULT_STYLE = GlyphStyle()
StyleT = TypeVar("StyleT")


def style_from_overrides(overrides: Iterable[str], base: StyleT = DEFAULT_STYLE) -> StyleT:
    """A style with some ranges replaced, from ``KEY=VALUE`` strings as typed on a command line.

    Args:
        overrides: strings such as ``"shift=5.0"`` or ``"scale=(0.75, 1.0)"``; each value is a
            Python literal.
        base: the style whose other fields are kept: a :class:`GlyphStyle` or a
            :class:`cnnbook.data.strokes.StrokeStyle`.

    Returns:
        A new style of the same class as ``base`` (its own checks apply to the new values).

    Example:
        >>> style_from_overrides(["shift=5.0", "clutter=0.5"]).shift
        5.0
    """
    names = [f.name for f in fields(base)]
    changes = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise ValueError(
                f"overrides: expected KEY=VALUE with KEY one of {', '.join(names)}; got {item!r}"
            )
        try:
            changes[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            raise ValueError(
                f"overrides: the value of {key} must be a Python literal such as 0.5 or "
                f"(0.8, 1.0); got {text!r}"
            ) from None
    return replace(base, **changes)


def make_glyph_dataset(
    name: str,
    split: str = "train",
    n: int = 20000,
    seed: int = 0,
    size: int = 28,
    style: GlyphStyle = DEFAULT_STYLE,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a balanced glyph dataset, deterministically from its arguments.

    Args:
        name: ``"glyph-digits"`` (0-9) or ``"glyph-letters"`` (A-J).
        split: ``"train"`` (training fonts only) or ``"test"`` (training and held-out fonts).
        n: number of images; classes are balanced (counts differ by at most one).
        seed: seed of the random stream; train and test never share a stream.
        size: side of the square images in pixels.
        style: ranges of the random variations.

    Returns:
        ``(X, y)``: float32 images in [0, 1] and int64 labels in ``[0, 10)``.

    Shape:
        X: ``(n, 1, size, size)``; y: ``(n,)``.
    """
    if name not in GLYPH_SETS:
        raise ValueError(f"name: expected one of {sorted(GLYPH_SETS)}, got {name!r}")
    if split not in _SPLIT_CODES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size: expected an integer of at least 8, got {size!r}")
    chars = GLYPH_SETS[name]
    fonts = TRAIN_FONTS if split == "train" else TRAIN_FONTS + HELD_OUT_FONTS
    bank = torch.from_numpy(np.array(glyph_bank(chars, fonts))).unsqueeze(2)  # (F, C, 1, M, M)

    rng = np.random.default_rng([int(seed), _DATASET_CODES[name], _SPLIT_CODES[split]])
    y = rng.permutation(np.arange(n) % len(chars)).astype(np.int64)
    font = rng.integers(0, len(fonts), size=n)
    params = _draw_params(rng, n, style, size)

    X = np.empty((n, 1, size, size), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        masters = bank[font[part], y[part]]
        chunk_params = {key: torch.from_numpy(value[part]) for key, value in params.items()}
        X[part] = _render(masters, chunk_params, size).numpy()
    return X, y


def _draw_params(
    rng: np.random.Generator, n: int, style: GlyphStyle, size: int
) -> dict[str, np.ndarray]:
    """All the random numbers of n images, drawn up front (float32 unless said otherwise)."""

    def uniform(low: float, high: float, shape: tuple[int, ...] = (n,)) -> np.ndarray:
        return rng.uniform(low, high, size=shape).astype(np.float32)

    return {
        "angle": np.deg2rad(uniform(-style.rotation, style.rotation)),
        "scale": uniform(*style.scale),
        "aspect": uniform(-style.aspect, style.aspect),
        "shear": uniform(-style.shear, style.shear),
        "shift": _shifts(rng, n, style) * (2.0 / size),  # in affine_grid's normalised units
        "stroke": rng.choice(4, size=n, p=np.asarray(style.stroke_probs)).astype(np.int64),
        "ink": uniform(*style.ink),
        "background": uniform(0.0, style.background),
        "blur": (rng.random(n) < style.blur).astype(np.float32) * uniform(0.3, 1.0),
        "noise": uniform(0.0, style.noise),
        "noise_field": rng.standard_normal((n, 1, size, size)).astype(np.float32),
        "clutter_on": (rng.random((n, 2)) < style.clutter),
        "clutter_start": uniform(0.0, size - 1.0, (n, 2, 2)),
        "clutter_angle": uniform(0.0, 2 * np.pi, (n, 2)),
        "clutter_length": uniform(3.0, 9.0, (n, 2)),
        "clutter_width": uniform(0.5, 1.1, (n, 2)),
        "clutter_ink": uniform(0.4, 1.0, (n, 2)),
        "elastic": uniform(-1.0, 1.0, (n, 2, 4, 4)) * (style.elastic * 2.0 / size),
    }


def _shifts(rng: np.random.Generator, n: int, style: GlyphStyle) -> np.ndarray:
    """Translations in pixels, shape (n, 2): uniform, or clipped normal when shift_std is set."""
    if style.shift_std is None:
        return rng.uniform(-style.shift, style.shift, size=(n, 2)).astype(np.float32)
    draws = rng.normal(0.0, style.shift_std, size=(n, 2))
    return np.clip(draws, -style.shift, style.shift).astype(np.float32)


def _render(masters: torch.Tensor, p: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Warp, restroke, downsample and degrade one chunk of master glyphs.

    Shape:
        masters: ``(B, 1, M, M)``; returns ``(B, 1, size, size)``.
    """
    b = masters.shape[0]
    # Forward map glyph -> image: rotation @ shear @ scale; affine_grid wants its inverse.
    cos, sin = torch.cos(p["angle"]), torch.sin(p["angle"])
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shear = torch.eye(2).repeat(b, 1, 1)
    shear[:, 0, 1] = p["shear"]
    scale = torch.diag_embed(
        torch.stack([p["scale"] * (1 + p["aspect"]), p["scale"] * (1 - p["aspect"])], -1)
    )
    forward = rotation @ shear @ scale
    inverse = torch.linalg.inv(forward)
    offset = -(inverse @ p["shift"].unsqueeze(-1))
    theta = torch.cat([inverse, offset], dim=-1)
    fine = 2 * size  # warp onto a 2x finer canvas, then box-filter down
    grid = F.affine_grid(theta, [b, 1, fine, fine], align_corners=False)
    if p["elastic"].abs().max() > 0:  # a smooth random displacement field on top of the affine map
        field = F.interpolate(p["elastic"], size=(fine, fine), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1)
    img = F.grid_sample(masters, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # Stroke width by grey-level morphology: erosion = min pool, dilation = max pool.
    thinner = 1.0 - _dilate(1.0 - img)
    thicker = _dilate(img)
    thickest = _dilate(thicker)
    variants = torch.stack([thinner, img, thicker, thickest])  # (4, B, 1, fine, fine)
    img = variants[p["stroke"], torch.arange(b)]
    img = F.avg_pool2d(img, 2)

    img = torch.maximum(img, _clutter(p, size))
    blurred = _gaussian_blur(img, sigma=1.0)
    mix = p["blur"].view(b, 1, 1, 1)
    img = (1 - mix) * img + mix * blurred

    ink, background = p["ink"].view(b, 1, 1, 1), p["background"].view(b, 1, 1, 1)
    img = background + (ink - background) * img
    img = img + p["noise"].view(b, 1, 1, 1) * p["noise_field"]
    return img.clamp_(0.0, 1.0)


def _clutter(p: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Up to two short anti-aliased line segments per image (distractors), shape (B, 1, H, W)."""
    start = p["clutter_start"]  # (B, 2, 2) as (row, col)
    direction = torch.stack([torch.sin(p["clutter_angle"]), torch.cos(p["clutter_angle"])], -1)
    end = start + p["clutter_length"].unsqueeze(-1) * direction
    coords = torch.arange(size, dtype=torch.float32)
    pixels = torch.stack(torch.meshgrid(coords, coords, indexing="ij"), -1)  # (H, W, 2)
    a = start[:, :, None, None, :]
    ab = (end - start)[:, :, None, None, :]
    t = ((pixels - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)
    nearest = a + t.clamp(0, 1).unsqueeze(-1) * ab
    distance = (pixels - nearest).norm(dim=-1)  # (B, 2, H, W)
    width = p["clutter_width"][:, :, None, None]
    strokes = (width + 0.5 - distance).clamp(0, 1) * p["clutter_ink"][:, :, None, None]
    strokes = strokes * p["clutter_on"][:, :, None, None]
    return strokes.amax(dim=1, keepdim=True)


def _dilate(img: torch.Tensor) -> torch.Tensor:
    """Grey-level dilation by a 3x3 square (separable max of shifted copies; faster than
    ``max_pool2d`` with stride 1 on one channel). Borders count as 0. Shape kept."""
    h, w = img.shape[-2:]
    padded = F.pad(img, (1, 1, 1, 1))
    rows = torch.maximum(
        torch.maximum(padded[..., :h, :], padded[..., 1 : h + 1, :]), padded[..., 2 : h + 2, :]
    )
    return torch.maximum(torch.maximum(rows[..., :w], rows[..., 1 : w + 1]), rows[..., 2 : w + 2])


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with a 5-tap kernel, replicate borders. Shape kept."""
    taps = torch.exp(-(torch.arange(-2.0, 3.0) ** 2) / (2 * sigma**2))
    taps = (taps / taps.sum()).tolist()
    h, w = img.shape[-2:]
    padded = F.pad(img, (2, 2, 2, 2), mode="replicate")
    rows = sum(t * padded[..., i : i + h, :] for i, t in enumerate(taps))
    return sum(t * rows[..., i : i + w] for i, t in enumerate(taps))
