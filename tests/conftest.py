"""Shared pytest set-up: deterministic, single-threaded and offline by default."""

import os

# Tests must never reach the network or a user's cache.
os.environ.setdefault("CNNBOOK_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# pytest-xdist runs one worker per core: a second torch thread per worker only oversubscribes
# (and the tests' tensors are too small to gain from threads).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test starts with no open matplotlib figure and leaves none behind."""
    yield
    plt.close("all")
