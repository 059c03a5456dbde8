"""A portable fingerprint of a generated dataset: does this machine make the same images?

A hash of float32 image bytes is not portable: NumPy's SIMD paths round differently on another
processor, so the same generator, seed and version give images that differ in the last bits. The
fingerprint therefore hashes only what is exactly reproducible (the integer labels) and records a
few statistics of the images, compared with a tolerance far above rounding error and far below
any real change of the generator (a different font, shift or stroke moves them by 1e-2 or more).
"""

from __future__ import annotations

import hashlib

import numpy as np

# How many images get their own mean in the record: enough that a reordering or a different
# image is caught, few enough that the JSON stays readable.
N_PER_IMAGE = 16
# Rounding differences between processors move these statistics by about 1e-7; a changed
# generator moves them by 1e-2 or more.
TOLERANCE = 1e-4

__all__ = ["N_PER_IMAGE", "TOLERANCE", "fingerprint", "fingerprint_differences"]


def fingerprint(images, labels) -> dict:
    """Exact hash of the labels, and rounded statistics of the images (plain JSON types)."""
    X = np.asarray(images, dtype=np.float64)
    y = np.asarray(labels)
    if X.ndim < 2 or len(X) != len(y):
        raise ValueError(
            f"images and labels: expected N images and N labels, got shapes {X.shape} and {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels: expected integers, got dtype {y.dtype}")
    per_image = X.reshape(len(X), -1).mean(axis=1)
    return {
        "n": int(len(X)),
        "shape": [int(s) for s in X.shape[1:]],
        "labels_sha256": hashlib.sha256(y.astype("<i8").tobytes()).hexdigest(),
        "mean": round(float(X.mean()), 7),
        "std": round(float(X.std()), 7),
        "first_image_means": [round(float(m), 7) for m in per_image[:N_PER_IMAGE]],
    }


def fingerprint_differences(recorded: dict, images, labels, tolerance: float = TOLERANCE) -> list:
    """What differs between a recorded fingerprint and these images (empty list: the same data)."""
    now = fingerprint(images, labels)
    problems = []
    for key in ("n", "shape", "labels_sha256"):
        if recorded[key] != now[key]:
            problems.append(f"{key}: recorded {recorded[key]!r}, now {now[key]!r}")
    for key in ("mean", "std"):
        if abs(recorded[key] - now[key]) > tolerance:
            problems.append(f"{key}: recorded {recorded[key]}, now {now[key]}")
    before, after = recorded["first_image_means"], now["first_image_means"]
    gap = np.abs(np.subtract(before, after)).max() if len(before) == len(after) else np.inf
    if gap > tolerance:
        problems.append(f"first_image_means differ by up to {gap:.2g} (tolerance {tolerance})")
    return problems
