"""One entry point for every dataset of the book: ``load``, plus loaders, fallbacks, class names."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from cnnbook.data.cache import atomic_path, data_home
from cnnbook.data.device_loader import DeviceLoader
from cnnbook.data.dots import make_dots_dataset
from cnnbook.data.download import DatasetUnavailable, fetch
from cnnbook.data.parsers import read_cifar10, read_idx
from cnnbook.data.registry import CLASS_NAMES, REGISTRY
from cnnbook.data.strokes import DEFAULT_STROKE_STYLE, make_stroke_dataset
from cnnbook.data.synth import DEFAULT_STYLE, GLYPH_SETS, make_glyph_dataset, style_from_overrides

__all__ = [
    "DATASETS",
    "DeviceLoader",
    "load",
    "load_styled",
    "make_loader",
    "load_or_fallback",
    "DatasetFallbackWarning",
    "class_names",
]

# Bump when a generator changes, so that disk caches of older versions are never reused.
GENERATOR_VERSION = 1

# Generated datasets: default sizes per split.
_GENERATED_SIZES = {
    "stroke-digits": {"train": 20000, "test": 5000},
    "glyph-digits": {"train": 20000, "test": 5000},
    "glyph-letters": {"train": 20000, "test": 5000},
    "two-dots": {"train": 5000, "test": 1000},
}
DATASETS: tuple[str, ...] = tuple(_GENERATED_SIZES) + tuple(REGISTRY)


def class_names(name: str) -> list[str]:
    """Names of the classes of a dataset, in label order.

    Args:
        name: a dataset of :data:`DATASETS`.

    Returns:
        One string per class; label ``k`` is ``class_names(name)[k]``.
    """
    _check_name(name)
    if name == "stroke-digits":
        return list("0123456789")
    if name in GLYPH_SETS:
        return list(GLYPH_SETS[name])
    if name == "two-dots":
        return ["one dot", "two dots"]
    return list(CLASS_NAMES[name])


def load(
    name: str,
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    as_tensor: bool = False,
    root: str | os.PathLike[str] | None = None,
    disk_cache: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
    """Load (or generate) a dataset split as images in [0, 1] and integer labels.

    Generated datasets (``"stroke-digits"``, ``"glyph-digits"``, ``"glyph-letters"``,
    ``"two-dots"``) need no network and are a pure function of ``(name, split, n, seed)``.
    Downloaded ones (``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``) are fetched once into the
    cache folder (``root``, else ``$CNNBOOK_DATA``, else ``~/.cache/cnnbook``) and verified by
    checksum.
    Results are cached in memory; each call returns fresh copies.

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        n: number of examples. Generated: how many to make (default 20,000 train / 5,000 test
            for strokes and glyphs, 5,000 / 1,000 for dots). Downloaded: a random subset of that
            size drawn with ``seed`` (default: the whole split, in its original order).
        seed: seed of the generator, or of the subset.
        as_tensor: return torch tensors instead of NumPy arrays.
        root: cache folder for downloads and disk caches.
        disk_cache: also store generated datasets on disk (keyed by arguments and version).

    Returns:
        ``(X, y)``: float32 images and int64 labels.

    Shape:
        X: ``(N, C, H, W)`` (1x28x28 for the stroke, glyph, dot and MNIST-family sets, 3x32x32 for
        CIFAR-10); y: ``(N,)``.

    Raises:
        ValueError: unknown name or split, or a bad ``n``.
        DatasetUnavailable: a downloaded dataset that is not cached and cannot be fetched.

    Example:
        >>> X, y = load("stroke-digits", "test", n=100)
        >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
        ((100, 1, 28, 28), dtype('float32'), array([...]))
    """
    _check_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
        raise ValueError(f"n: expected a positive integer or None, got {n!r}")
    if name in _GENERATED_SIZES:
        count = int(n) if n is not None else _GENERATED_SIZES[name][split]
        X, y = _generated(
            name, split, count, int(seed), str(data_home(root)) if disk_cache else None
        )
    else:
        X, y = _downloaded(name, split, str(data_home(root)))
        if n is not None:
            if n > len(y):
                raise ValueError(f"n: {name} {split} has {len(y)} examples, {n} were requested")
            keep = np.sort(
                np.random.default_rng(int(seed)).choice(len(y), size=int(n), replace=False)
            )
            X, y = X[keep], y[keep]
    X, y = X.copy(), y.copy()  # the cached arrays stay untouched whatever the caller does
    if as_tensor:
        return torch.from_numpy(X), torch.from_numpy(y)
    return X, y


def load_styled(
    name: str, split: str, n: int, overrides: Iterable[str] = (), seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, object]:
    """A generated dataset with some of its generator's style ranges changed (for experiments).

    The benchmarks use it to try harder or easier variants without touching the shipped defaults;
    nothing is cached.

    Args:
        name: ``"stroke-digits"``, ``"glyph-digits"`` or ``"glyph-letters"``.
        split: ``"train"`` or ``"test"``.
        n: number of images.
        overrides: ``KEY=VALUE`` strings for :func:`cnnbook.data.synth.style_from_overrides`,
            with keys of :class:`~cnnbook.data.strokes.StrokeStyle` for ``"stroke-digits"`` and of
            :class:`~cnnbook.data.synth.GlyphStyle` for the glyph sets.
        seed: seed of the generator.

    Returns:
        ``(X, y, style)``: tensors as :func:`load` returns them, and the style used.
    """
    if name == "stroke-digits":
        style = style_from_overrides(overrides, DEFAULT_STROKE_STYLE)
        X, y = make_stroke_dataset(split, n=n, seed=seed, style=style)
    elif name in GLYPH_SETS:
        style = style_from_overrides(overrides, DEFAULT_STYLE)
        X, y = make_glyph_dataset(name, split, n=n, seed=seed, style=style)
    else:
        raise ValueError(
            f"name: expected 'stroke-digits' or one of {sorted(GLYPH_SETS)}, got {name!r}"
        )
    return torch.from_numpy(X), torch.from_numpy(y), style


# How a reader sees the downloadable datasets' names in load_or_fallback's message.
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
# (preferred, used) pairs load_or_fallback has already announced in this process.
_announced: set[tuple[str, str]] = set()


class DatasetFallbackWarning(UserWarning):
    """``load_or_fallback`` used its fallback; the message says why the preferred one failed."""


def load_or_fallback(
    name: str = "mnist", fallback: str = "stroke-digits", split: str = "train", **kwargs
) -> tuple[np.ndarray, np.ndarray, str]:
    """Load ``name``; if it is unavailable (offline, no network, bad checksum) load ``fallback``.

    Says which dataset it got in one sentence for the reader on stdout, once per process for each
    outcome (a chapter that loads the train and the test split shows it once), so that a reader
    never mistakes one dataset for the other. Why ``name`` was unavailable (``CNNBOOK_OFFLINE``,
    the mirrors that failed) goes to a :class:`DatasetFallbackWarning`, on stderr, which the book's
    pages leave out.

    Args:
        name: the preferred dataset (usually a downloaded one).
        fallback: the dataset to use instead (usually a generated one).
        split: ``"train"`` or ``"test"``.
        **kwargs: passed to :func:`load` (``n``, ``seed``, ``as_tensor``, ``root``, ...).

    Returns:
        ``(X, y, used)`` where ``used`` is the name of the dataset actually loaded.
    """
    _check_name(fallback)
    title = _TITLES.get(name, name)
    try:
        X, y = load(name, split, **kwargs)
        used = name
        sentence = f"Using {title}."
    except DatasetUnavailable as error:
        X, y = load(fallback, split, **kwargs)
        used = fallback
        warnings.warn(
            f"cnnbook.data: using {fallback!r} because {error}",
            DatasetFallbackWarning,
            stacklevel=2,
        )
        sentence = (
            f"{title} could not be downloaded here, so this uses {fallback}, a dataset generated "
            "offline, instead."
        )
    if (name, used) not in _announced:
        _announced.add((name, used))
        print(sentence)
    return X, y, used


def make_loader(
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> DataLoader | DeviceLoader:
    """A loader over ``(X, y)`` whose shuffling is fixed by ``seed``.

    Without ``device``: a ``DataLoader`` on the CPU, batches copied to the device by whoever
    trains. With ``device`` (for example ``device=get_device()``): a :class:`DeviceLoader` that
    moves the data to that device once and makes every batch there (much faster on a GPU when
    the data fits in its memory). Both give the same batches in the same order for a seed.

    Args:
        X: inputs, first axis = examples.
        y: labels (or targets), same first-axis length.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (in an order fixed by ``seed``).
        seed: seed of the loader's own generator.
        device: None for a CPU ``DataLoader``; a device (``"cuda"``, ``"cpu"``, a
            ``torch.device``) for a device-resident :class:`DeviceLoader`.

    Returns:
        A ``torch.utils.data.DataLoader`` over a ``TensorDataset`` (single process), or a
        :class:`DeviceLoader` when ``device`` is given.

    Shape:
        X: ``(N, ...)``; y: ``(N, ...)``; batches: ``(batch_size, ...)``, the last one shorter.
    """
    if device is not None:
        return DeviceLoader(X, y, batch_size, shuffle, seed, device)
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"y: expected {X.shape[0]} labels to match X, got {y.shape[0]}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(
        TensorDataset(X, y), batch_size=int(batch_size), shuffle=shuffle, generator=generator
    )


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {list(DATASETS)}, got {name!r}")


@functools.lru_cache(maxsize=6)
def _generated(
    name: str, split: str, n: int, seed: int, root: str | None
) -> tuple[np.ndarray, np.ndarray]:
    path = None
    if root is not None:
        path = (
            data_home(root)
            / "generated"
            / f"{name}-{split}-n{n}-seed{seed}-v{GENERATOR_VERSION}.npz"
        )
        if path.is_file():
            with np.load(path) as stored:
                return _frozen(stored["X"], stored["y"])
    if name == "stroke-digits":
        X, y = make_stroke_dataset(split, n=n, seed=seed)
    elif name == "two-dots":
        # Disjoint streams for train and test: the split is folded into the seed.
        X, y, _ = make_dots_dataset(n, seed=seed * 2 + (split == "test"))
    else:
        X, y = make_glyph_dataset(name, split, n=n, seed=seed)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, X=X, y=y)
    return _frozen(X, y)


@functools.lru_cache(maxsize=4)
def _downloaded(name: str, split: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    paths = fetch(name, root)
    if name == "cifar10":
        images, labels = read_cifar10(paths["archive"], split)
    else:
        images = read_idx(paths[f"{split}_images"])[:, None]
        labels = read_idx(paths[f"{split}_labels"]).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    print(f"cnnbook.data: {name} {split} read from {data_home(root) / name}", file=sys.stderr)
    return _frozen((images / np.float32(255)).astype(np.float32), labels)


def _frozen(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y
