"""Shared pytest set-up: deterministic, single-threaded and offline by default."""

import os

# Tests must never reach the network or a user's cache.
os.environ.setdefault("CNNBOOK_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

# pytest-xdist runs one worker per core: a second torch thread per worker only oversubscribes.
torch.set_num_threads(1)
