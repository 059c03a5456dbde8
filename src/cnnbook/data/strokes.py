"""Generate "stroke-digits": digits drawn as pen strokes along randomly bent skeletons.

Font glyphs vary little within a class: a network that memorises a few templates per digit already
does well, so an MLP comes close to a CNN on them. Handwriting varies much more, and mostly
*locally* (a loop is rounder, a stroke bends, the digit is elsewhere in the frame), which is what
convolutional feature detectors are built to absorb. This generator imitates that variety:

1. every digit has one or more hand-made skeletons: strokes given by a few control points in a unit
   box (x to the right, y downwards), e.g. a "1" with or without its flag and base;
2. each image picks a skeleton, moves every control point at random (``jitter``), bends the whole
   digit by a random smooth quadratic field (``warp``: top-heavy 8s, bent 7s, round or narrow 0s),
   then rotates, slants, scales and shifts it;
3. points sampled densely along Catmull-Rom splines through the control points stamp a round pen of
   random width; the ink is anti-aliased by the distance to the pen's centre;
4. ink brightness and Gaussian noise vary per image.

As in :mod:`cnnbook.data.synth`, all random numbers are drawn up front from one NumPy generator
seeded by (seed, dataset, split), so the dataset is a pure function of its arguments, the train and
test splits use disjoint streams, and the result does not depend on the chunk size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["StrokeStyle", "DEFAULT_STROKE_STYLE", "DIGIT_SKELETONS", "make_stroke_dataset"]

Point = tuple[float, float]


def _ellipse(cx: float, cy: float, rx: float, ry: float, points: int = 9) -> tuple[Point, ...]:
    """Control points of a closed ellipse starting and ending at its top."""
    angles = np.linspace(-np.pi / 2, 1.5 * np.pi, points)
    return tuple((cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles)


# Skeletons per digit: variants -> strokes -> control points (x, y) in the unit box. A sharp corner
# is where one stroke ends and the next begins (a spline through the corner would round it off).
# fmt: off
DIGIT_SKELETONS: dict[int, tuple[tuple[tuple[Point, ...], ...], ...]] = {
    0: ((_ellipse(0.5, 0.5, 0.24, 0.38),),),
    1: (
        (((0.52, 0.1), (0.52, 0.9)),),
        (((0.42, 0.24), (0.54, 0.1)), ((0.54, 0.1), (0.54, 0.9))),
        (((0.42, 0.24), (0.54, 0.1)), ((0.54, 0.1), (0.54, 0.9)), ((0.38, 0.9), (0.7, 0.9))),
    ),
    2: (
        (((0.28, 0.3), (0.38, 0.14), (0.56, 0.1), (0.7, 0.24), (0.64, 0.46), (0.28, 0.88)),
         ((0.28, 0.88), (0.74, 0.88))),
        (((0.3, 0.26), (0.46, 0.1), (0.68, 0.18), (0.66, 0.42), (0.44, 0.64), (0.28, 0.88),
          (0.5, 0.82), (0.74, 0.88)),),
    ),
    3: (
        (((0.3, 0.18), (0.5, 0.1), (0.68, 0.2), (0.64, 0.38), (0.46, 0.48), (0.66, 0.58),
          (0.7, 0.76), (0.52, 0.9), (0.28, 0.82)),),
        (((0.28, 0.12), (0.7, 0.12)), ((0.7, 0.12), (0.46, 0.42)),
         ((0.46, 0.42), (0.66, 0.52), (0.7, 0.72), (0.52, 0.9), (0.28, 0.82))),
    ),
    4: (
        (((0.6, 0.1), (0.26, 0.64)), ((0.26, 0.64), (0.76, 0.64)), ((0.62, 0.36), (0.62, 0.9))),
        (((0.34, 0.1), (0.28, 0.58)), ((0.28, 0.58), (0.74, 0.58)), ((0.64, 0.1), (0.64, 0.9))),
    ),
    5: (
        (((0.7, 0.12), (0.36, 0.12)), ((0.36, 0.12), (0.32, 0.46)),
         ((0.32, 0.46), (0.54, 0.4), (0.7, 0.56), (0.66, 0.8), (0.46, 0.9), (0.28, 0.8))),
    ),
    6: (
        (((0.64, 0.1), (0.44, 0.26), (0.32, 0.52), (0.34, 0.78), (0.52, 0.9), (0.68, 0.74),
          (0.62, 0.52), (0.44, 0.5), (0.32, 0.62)),),
    ),
    7: (
        (((0.26, 0.12), (0.74, 0.12)), ((0.74, 0.12), (0.56, 0.46), (0.46, 0.9))),
        (((0.26, 0.12), (0.74, 0.12)), ((0.74, 0.12), (0.56, 0.46), (0.46, 0.9)),
         ((0.42, 0.5), (0.72, 0.5))),
    ),
    8: (
        (((0.5, 0.48), (0.34, 0.32), (0.5, 0.1), (0.66, 0.3), (0.5, 0.48), (0.3, 0.7),
          (0.5, 0.9), (0.7, 0.7), (0.5, 0.48)),),
    ),
    9: (
        (((0.68, 0.32), (0.52, 0.48), (0.34, 0.38), (0.38, 0.16), (0.58, 0.12), (0.68, 0.3),
          (0.66, 0.6), (0.6, 0.9)),),
        (((0.68, 0.3), (0.5, 0.46), (0.33, 0.36), (0.4, 0.14), (0.6, 0.13), (0.68, 0.3)),
         ((0.68, 0.3), (0.66, 0.9))),
    ),
}
# fmt: on
_DATASET_CODE = 3  # keeps the random stream apart from the glyph datasets (codes 1 and 2)
_SPLIT_CODES = {"train": 0, "test": 1}
_CHUNK = 1024  # images per vectorised step: bounds memory (about 100 MB)
_FILL = 0.72  # side of the unit box as a fraction of the image (the digit is about 20 of 28 px)
_SAMPLE_STEP = 0.02  # spacing of pen samples along a stroke, in unit-box lengths (~0.3 px)


@dataclass(frozen=True)
class StrokeStyle:
    """Ranges of the random variations (uniform draws unless said otherwise).

    Attributes:
        jitter: standard deviation of the independent move of each control point, as a fraction of
            the digit's box (normal draws).
        warp: standard deviation of the coefficients of the quadratic bend (normal draws); 0.3
            moves a corner of the box by about 0.15 of its side.
        rotation: largest rotation, degrees (either sign).
        slant: largest horizontal shear factor (either sign).
        scale: (low, high) size factor of the digit.
        aspect: largest relative change of width against height.
        shift: largest translation in pixels of a 28x28 image, per axis (either sign); clipped
            where it would push the digit out of the frame.
        pen: (low, high) pen width in pixels of a 28x28 image.
        ink: (low, high) brightness of the strokes.
        noise: largest standard deviation of the additive Gaussian noise.
    """

    jitter: float = 0.035
    warp: float = 0.3
    rotation: float = 10.0
    slant: float = 0.2
    scale: tuple[float, float] = (0.7, 1.0)
    aspect: float = 0.15
    shift: float = 8.0
    pen: tuple[float, float] = (1.0, 2.4)
    ink: tuple[float, float] = (0.7, 1.0)
    noise: float = 0.05

    def __post_init__(self) -> None:
        for name in ("jitter", "warp", "rotation", "slant", "aspect", "shift", "noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(
                    f"{name}: expected a non-negative number, got {getattr(self, name)}"
                )
        for name in ("scale", "pen", "ink"):
            value = getattr(self, name)
            if len(value) != 2 or not 0 < value[0] <= value[1]:
                raise ValueError(f"{name}: expected (low, high) with 0 < low <= high, got {value}")


DEFAULT_STROKE_STYLE = StrokeStyle()


def make_stroke_dataset(
    split: str = "train",
    n: int = 20000,
    seed: int = 0,
    size: int = 28,
    style: StrokeStyle = DEFAULT_STROKE_STYLE,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a balanced set of pen-stroke digits, deterministically from its arguments.

    Args:
        split: ``"train"`` or ``"test"``; the two draw from disjoint random streams of the same
            distribution (like new writers of the same population).
        n: number of images; classes are balanced (counts differ by at most one).
        seed: seed of the random stream.
        size: side of the square images in pixels; lengths in ``style`` scale with ``size / 28``.
        style: ranges of the random variations.

    Returns:
        ``(X, y)``: float32 images in [0, 1] (white ink on black) and int64 labels in ``[0, 10)``.

    Shape:
        X: ``(n, 1, size, size)``; y: ``(n,)``.

    Example:
        >>> X, y = make_stroke_dataset("test", n=20, seed=1)
        >>> X.shape, sorted(set(y.tolist())) == list(range(10))
        ((20, 1, 28, 28), True)
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size: expected an integer of at least 8, got {size!r}")
    if not isinstance(style, StrokeStyle):
        raise ValueError(f"style: expected a StrokeStyle, got {type(style).__name__}")
    labels, controls, samples, valid = _skeleton_bank()
    rng = np.random.default_rng([int(seed), _DATASET_CODE, _SPLIT_CODES[split]])
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    variant = np.empty(n, dtype=np.int64)
    for digit in range(10):
        of_digit = y == digit
        variant[of_digit] = rng.choice(np.flatnonzero(labels == digit), size=of_digit.sum())
    points = _place_control_points(rng, controls[variant], style, size)
    pen = rng.uniform(*style.pen, size=n) * (size / 28)
    ink = rng.uniform(*style.ink, size=n).astype(np.float32)
    noise = rng.uniform(0.0, style.noise, size=n).astype(np.float32)

    X = np.empty((n, 1, size, size), dtype=np.float32)
    radius = int(np.ceil(pen.max() / 2 + 0.5))
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        pen_centres = samples[variant[part]] @ torch.from_numpy(points[part])  # (B, Q, 2)
        X[part, 0] = _stamp(pen_centres, valid[variant[part]], pen[part], size, radius).numpy()
    X *= ink[:, None, None, None]
    X += noise[:, None, None, None] * rng.standard_normal(X.shape, dtype=np.float32)
    return np.clip(X, 0.0, 1.0, out=X), y


def _place_control_points(
    rng: np.random.Generator, controls: np.ndarray, style: StrokeStyle, size: int
) -> np.ndarray:
    """Jitter, bend, rotate, slant, scale and shift the control points of each image.

    Shape:
        controls: ``(n, P, 2)`` in the unit box; returns ``(n, P, 2)`` float32 pixel coordinates
        (x, y) of the output image.
    """
    n = len(controls)
    points = controls + rng.normal(0.0, style.jitter, size=controls.shape)
    centred = points - 0.5
    u, v = centred[..., 0], centred[..., 1]
    quadratic = np.stack([u * u, v * v, u * v], axis=-1)  # (n, P, 3)
    centred = centred + quadratic @ rng.normal(0.0, style.warp, size=(n, 3, 2))

    angle = np.deg2rad(rng.uniform(-style.rotation, style.rotation, size=n))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    slant = np.tile(np.eye(2), (n, 1, 1))
    slant[:, 0, 1] = rng.uniform(-style.slant, style.slant, size=n)
    scale = rng.uniform(*style.scale, size=n)
    aspect = rng.uniform(-style.aspect, style.aspect, size=n)
    stretch = np.zeros((n, 2, 2))
    stretch[:, 0, 0], stretch[:, 1, 1] = scale * (1 + aspect), scale * (1 - aspect)
    linear = rotation @ slant @ stretch
    centred = np.einsum("nij,npj->npi", linear, centred)

    # Pixel centres sit at integer coordinates 0 .. size-1, so the image centre is (size-1)/2.
    pixels = centred * (_FILL * size) + (size - 1) / 2
    # The shift moves the digit anywhere in the frame but never out of it (a cropped 7 can be a 1):
    # it is clipped so that the control points stay a margin away from the border.
    shift = rng.uniform(-style.shift, style.shift, size=(n, 1, 2)) * (size / 28)
    margin = 1.5 * size / 28
    low = margin - pixels.min(axis=1, keepdims=True)
    high = size - 1 - margin - pixels.max(axis=1, keepdims=True)
    shift = np.where(low <= high, np.clip(shift, low, np.maximum(low, high)), (low + high) / 2)
    return (pixels + shift).astype(np.float32)


def _stamp(
    centres: torch.Tensor, valid: torch.Tensor, pen: np.ndarray, size: int, radius: int
) -> torch.Tensor:
    """Ink of a round pen stamped at every centre: each pixel takes its largest coverage.

    Coverage falls linearly from 1 to 0 over the pixel around the pen's edge (anti-aliasing).

    Shape:
        centres: ``(B, Q, 2)`` pixel coordinates (x, y); valid: ``(B, Q)`` (padding is False);
        returns ``(B, size, size)``.
    """
    b = centres.shape[0]
    offsets = torch.arange(-radius, radius + 2, dtype=torch.float32)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    window = torch.stack([dx.flatten(), dy.flatten()], -1)  # pixels that a stamp may reach
    pixels = torch.floor(centres)[:, :, None] + window  # (B, Q, W, 2)
    distance = (pixels - centres[:, :, None]).norm(dim=-1)
    half_width = torch.from_numpy(pen / 2 + 0.5).float()[:, None, None]
    coverage = (half_width - distance).clamp_(0.0, 1.0)
    inside = ((pixels >= 0) & (pixels <= size - 1)).all(-1) & valid[:, :, None]
    coverage = coverage * inside
    col, row = pixels.clamp(0, size - 1).long().unbind(-1)
    flat_index = (row * size + col + (torch.arange(b) * size * size)[:, None, None]).flatten()
    image = torch.zeros(b * size * size)
    image.scatter_reduce_(0, flat_index, coverage.flatten(), reduce="amax")
    return image.view(b, size, size)


@functools.lru_cache(maxsize=1)
def _skeleton_bank() -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    """Every skeleton variant as arrays, padded to common sizes (built once per process).

    Returns:
        labels ``(V,)``: the digit of each variant; controls ``(V, P, 2)``: control points;
        samples ``(V, Q, P)``: linear map from control points to pen centres along the splines;
        valid ``(V, Q)``: False for padding rows.
    """
    variants = [
        (digit, strokes) for digit, options in DIGIT_SKELETONS.items() for strokes in options
    ]
    num_points = max(sum(len(s) for s in strokes) for _, strokes in variants)
    maps = []
    controls = np.zeros((len(variants), num_points, 2))
    for v, (_, strokes) in enumerate(variants):
        rows, first = [], 0
        for stroke in strokes:
            spline = _catmull_rom_matrix(np.asarray(stroke, dtype=np.float64))
            block = np.zeros((len(spline), num_points))
            block[:, first : first + len(stroke)] = spline
            rows.append(block)
            controls[v, first : first + len(stroke)] = stroke
            first += len(stroke)
        maps.append(np.concatenate(rows))
    num_samples = max(len(m) for m in maps)
    samples = np.zeros((len(variants), num_samples, num_points), dtype=np.float32)
    valid = np.zeros((len(variants), num_samples), dtype=bool)
    for v, m in enumerate(maps):
        samples[v, : len(m)] = m
        valid[v, : len(m)] = True
    labels = np.array([digit for digit, _ in variants])
    return labels, controls, torch.from_numpy(samples), torch.from_numpy(valid)


def _catmull_rom_matrix(points: np.ndarray, step: float = _SAMPLE_STEP) -> np.ndarray:
    """Weights that turn a stroke's control points into samples along its Catmull-Rom spline.

    The spline passes through every control point; a two-point stroke is a straight segment.
    Each span gets samples about ``step`` apart (1.3x its chord, since the curve is longer), so
    that the matrix stays valid for any later move of the control points of similar size.

    Shape:
        points: ``(P, 2)``; returns ``(S, P)`` with rows summing to 1.
    """
    count = len(points)
    rows = []
    for i in range(count - 1):
        # Neighbours of the span (i, i+1); the ends repeat the end point.
        indices = (max(i - 1, 0), i, i + 1, min(i + 2, count - 1))
        steps = max(1, int(np.ceil(1.3 * np.linalg.norm(points[i + 1] - points[i]) / step)))
        last_span = i == count - 2
        for t in np.linspace(0.0, 1.0, steps + 1)[: steps + last_span]:
            weights = 0.5 * np.array(
                [
                    -(t**3) + 2 * t**2 - t,
                    3 * t**3 - 5 * t**2 + 2,
                    -3 * t**3 + 4 * t**2 + t,
                    t**3 - t**2,
                ]
            )
            row = np.zeros(count)
            np.add.at(row, list(indices), weights)
            rows.append(row)
    return np.array(rows)
