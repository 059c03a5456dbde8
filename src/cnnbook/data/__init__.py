"""Datasets of the book: generated offline, or downloaded with checksums where a network exists.

Everything goes through :func:`load`::

    from cnnbook import data
    X, y = data.load("stroke-digits", "train")           # 20,000 x 1 x 28 x 28, no network
    X, y, used = data.load_or_fallback("mnist", fallback="stroke-digits")
    loader = data.make_loader(X, y, batch_size=128, shuffle=True, seed=0)
    loader = data.make_loader(X, y, device="cuda")       # a DeviceLoader: data kept on the GPU

Datasets:
    stroke-digits  the main offline dataset: digits 0-9 drawn as pen strokes along randomly bent
                   skeletons, anywhere in the frame (handwriting-like variety within each class)
    glyph-digits   digits 0-9 drawn from matplotlib's fonts with random affine maps, stroke widths,
                   blur, noise and clutter; the test split adds fonts never seen in training
    glyph-letters  the same generator on the letters A-J (the offline target task for transfer)
    two-dots       one or two dots at random places (pooling and translation demos);
                   see also :func:`make_dots` and :func:`make_dots_dataset`
    mnist, fashion-mnist, cifar10   downloaded from mirrors, verified by checksum, cached

Modules: ``api`` (load and friends), ``device_loader`` (:class:`DeviceLoader`), ``strokes`` (the
stroke generator), ``synth`` and ``glyphs`` (the glyph generator), ``dots``,
``registry`` (URLs and checksums), ``download``, ``parsers`` (IDX, CIFAR), ``cache`` (folders).
"""

from cnnbook.data.api import (
    DATASETS,
    DatasetFallbackWarning,
    class_names,
    load,
    load_or_fallback,
    load_styled,
    make_loader,
)
from cnnbook.data.cache import data_home, offline
from cnnbook.data.device_loader import DeviceLoader
from cnnbook.data.dots import make_dots, make_dots_dataset
from cnnbook.data.download import DatasetUnavailable, fetch
from cnnbook.data.parsers import read_cifar10, read_idx
from cnnbook.data.strokes import StrokeStyle, make_stroke_dataset
from cnnbook.data.synth import GlyphStyle, make_glyph_dataset, style_from_overrides

__all__ = [
    "DATASETS",
    "DatasetFallbackWarning",
    "DatasetUnavailable",
    "DeviceLoader",
    "GlyphStyle",
    "class_names",
    "data_home",
    "fetch",
    "load",
    "load_or_fallback",
    "load_styled",
    "make_dots",
    "make_dots_dataset",
    "make_glyph_dataset",
    "make_loader",
    "offline",
    "read_cifar10",
    "read_idx",
    "StrokeStyle",
    "make_stroke_dataset",
    "style_from_overrides",
]
