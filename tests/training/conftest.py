"""Small synthetic data made by the tests themselves (nothing is downloaded or read from disk)."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset


def _toy_images(n: int, seed: int = 0, num_classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """1x28x28 images whose class is where a bright 6x6 square sits (left, middle, right)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n,), generator=g)
    X = 0.1 * torch.rand(n, 1, 28, 28, generator=g)
    rows = torch.randint(2, 20, (n,), generator=g)
    for i in range(n):
        col = 2 + int(y[i]) * (22 // num_classes)
        X[i, 0, rows[i] : rows[i] + 6, col : col + 6] += 0.9
    return X, y


def _loader(X: torch.Tensor, y: torch.Tensor, batch_size: int = 32, shuffle: bool = False):
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle)


@pytest.fixture
def toy():
    """192 toy images and labels (three classes)."""
    return _toy_images(192)


@pytest.fixture
def toy_images():
    """Factory: ``toy_images(n, seed=0, num_classes=3) -> (X, y)``."""
    return _toy_images


@pytest.fixture
def make_dl():
    """Factory: ``make_dl(X, y, batch_size=32, shuffle=False) -> DataLoader``."""
    return _loader
