"""A loader whose whole dataset lives on the compute device: batches are slices, not copies.

A ``torch.utils.data.DataLoader`` over a ``TensorDataset`` reads every example on its own, stacks
the batch on the CPU (collation) and copies it to the GPU: on a small CNN that costs about as much
as the training step itself (issue 12 measured ``fit`` over ``make_loader`` at 1.9x a bare loop).
When the data fits in device memory (the book's datasets take 60 MB for 60,000 28x28 images),
keeping it there makes a batch one ``index_select`` on the device.

Batch order: the same as :func:`cnnbook.data.make_loader` for the same seed (the permutation of
every epoch is drawn on the CPU from the same generator, in the same sequence as the
``DataLoader``'s sampler does, and moved to the device once per epoch; the tests check the
equality against ``make_loader``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["DeviceLoader"]


class DeviceLoader:
    """Mini-batches of ``(X, y)`` kept on ``device``, reshuffled every epoch with a seeded order.

    Iterating yields ``(X_batch, y_batch)`` tensors already on ``device``: a contiguous slice
    when ``shuffle`` is False, one ``index_select`` per tensor when it is True. Each ``iter()``
    starts a new epoch (epoch ``k`` has the order of ``make_loader``'s epoch ``k``); the loader
    can be iterated any number of times, by ``fit``, ``evaluate`` or a loop of your own.

    Args:
        X: inputs, first axis = examples (tensor or array; moved to ``device`` once, not copied
            when it is already there).
        y: labels (or targets), same first-axis length.
        batch_size: examples per batch (the last batch may be shorter).
        shuffle: a new order every epoch, fixed by ``seed``; False keeps the data order.
        seed: seed of the loader's own generator (independent of torch's global one).
        device: where the data lives; default :func:`cnnbook.device.get_device`.

    Attributes:
        X, y: the tensors on ``device``.
        device: a ``torch.device``.
        batch_size, shuffle, seed: as given.

    Shape:
        X: ``(N, ...)``; y: ``(N, ...)``; a batch: ``(B, ...)`` with ``B <= batch_size``.

    Example:
        >>> X, y = torch.rand(10, 1, 4, 4), torch.arange(10)
        >>> loader = DeviceLoader(X, y, batch_size=4, seed=0, device="cpu")
        >>> len(loader), [len(yb) for _, yb in loader]
        (3, [4, 4, 2])
    """

    def __init__(
        self,
        X: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        device = _check_device(device)
        X, y = _as_tensor(X, "X"), _as_tensor(y, "y")
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(
                f"X, y: expected arrays with a first axis of examples, got shapes "
                f"{tuple(X.shape)} and {tuple(y.shape)}"
            )
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} labels to match X, got {y.shape[0]}")
        if X.shape[0] == 0:
            raise ValueError("X: got 0 examples, expected at least one")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle: expected True or False, got {shuffle!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        self.X = X.to(device)
        self.y = y.to(device)
        self.device = self.X.device  # normalised: "cuda" becomes "cuda:0"
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        # A CPU generator, as make_loader's: the same seed gives the same permutations.
        self._generator = torch.Generator().manual_seed(self.seed)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return -(-self.X.shape[0] // self.batch_size)

    @property
    def dataset(self) -> TensorDataset:
        """The data as a ``TensorDataset`` (for code that reads ``len(loader.dataset)``)."""
        return TensorDataset(self.X, self.y)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = self.X.shape[0], self.batch_size
        # DataLoader draws one int64 (its workers' base seed) from the generator per epoch
        # before the sampler's permutation; drawing it too keeps make_loader's order.
        torch.empty((), dtype=torch.int64).random_(generator=self._generator)
        if not self.shuffle:
            for start in range(0, n, size):
                yield self.X[start : start + size], self.y[start : start + size]
            return
        # One small host-to-device copy per epoch (8 bytes per example), none per batch.
        order = torch.randperm(n, generator=self._generator).to(self.device)
        for start in range(0, n, size):
            index = order[start : start + size]
            yield self.X.index_select(0, index), self.y.index_select(0, index)
        # RandomSampler draws one more (empty) permutation when it is exhausted: so do we.
        torch.randperm(n, generator=self._generator)

    def __repr__(self) -> str:
        return (
            f"DeviceLoader(N={self.X.shape[0]}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, device={self.device})"
        )


def _check_device(device: object) -> torch.device:
    """A valid device that exists on this machine (ValueError otherwise)."""
    from cnnbook.device import get_device  # here: importing cnnbook.data stays light

    if device is None:
        return get_device()
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device: got {device!r}, expected None, a str or a torch.device")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device: got {device!r}, not a device torch knows ({error})") from None
    if device.type in ("cuda", "mps"):
        get_device(str(device))  # raises a ValueError when it is not available here
    return device


def _as_tensor(a: object, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    raise ValueError(f"{name}: got {type(a).__name__}, expected a torch.Tensor or a NumPy array")
