"""Probes: run a student's function and report what it did as plain data.

Test cells never hold the torch objects a student's code returns; they call a probe with the
student's function and plain inputs (NumPy arrays, numbers, tuples, strings) and compare the plain
result (outputs, counts, flags, learning rates) with an oracle computed in the test cell. In a plain
notebook a probe simply runs locally; a sandboxed grader can run the probe next to the student's
code and ship only the plain result back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["count_python_lines"]


def count_python_lines(func: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """How many Python lines run while ``func(*args, **kwargs)`` executes (library code included).

    A vectorised function runs about the same number of lines whatever the size of its input; a
    Python loop over batch or spatial positions runs more lines on a larger input. Comparing the
    counts on two sizes tells the two apart without timing anything.

    Returns:
        The number of ``line`` events seen by ``sys.settrace``; the call's result is discarded.
    """
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def global_(frame, event, arg):
        return local

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        func(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return count


def _as_float_arrays(values) -> list[np.ndarray]:
    return [np.asarray(v) for v in values]
