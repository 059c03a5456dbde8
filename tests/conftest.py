"""Shared pytest set-up: deterministic, single-threaded and offline by default."""

import os

# Tests must never reach the network or a user's cache.
os.environ.setdefault("CNNBOOK_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
