"""Timing small computations fairly: interleaved repeats, median and interquartile range.

    interleaved_times   run several functions in turn, ``repeats`` rounds; seconds per call
    median_iqr          median, first and third quartile of a sample of times or ratios

A single timing of a fast call is dominated by noise (other processes, caches, the clock).
Running the contenders in turn, round after round, lets a burst of load hit all of them alike;
the median and the interquartile range of the per-round values say what is typical and how much
it varies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["interleaved_times", "median_iqr"]


def interleaved_times(
    fns: Mapping[str, Callable[[], object]],
    repeats: int = 7,
    number: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, np.ndarray]:
    """Seconds per call of each function, measured in ``repeats`` interleaved rounds.

    In every round each function is called ``number`` times in a row and the mean time per call
    is recorded; the functions take turns, in
    the order given, before the next round starts.

    Args:
        fns: name -> a function without arguments.
        repeats: rounds (at least 1).
        number: calls per function and round (more for very fast calls).
        clock: the clock read before and after, in seconds: ``time.perf_counter`` (wall clock,
            the default) or ``time.process_time`` (CPU time of this process, all its threads,
            which other processes preempting it on a busy machine do not inflate).

    Returns:
        name -> array of ``repeats`` seconds per call, in round order.

    Example:
        >>> t = interleaved_times({"sum": lambda: sum(range(1000))}, repeats=3)
        >>> t["sum"].shape
        (3,)
    """
    if not isinstance(fns, Mapping) or not fns or not all(callable(f) for f in fns.values()):
        raise ValueError(f"fns: got {fns!r}, expected a non-empty mapping of name -> callable")
    for name, value in (("repeats", repeats), ("number", number)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: got {value!r}, expected a positive int")
    if not callable(clock):
        raise ValueError(f"clock: got {clock!r}, expected a function returning seconds")
    out = {name: np.empty(repeats) for name in fns}
    for r in range(repeats):
        for name, fn in fns.items():
            start = clock()
            for _ in range(number):
                fn()
            out[name][r] = (clock() - start) / number
    return out


def median_iqr(values: object) -> tuple[float, float, float]:
    """``(median, first quartile, third quartile)`` of a 1-D sample.

    Args:
        values: a non-empty sequence or array of numbers (times, ratios).

    Returns:
        three floats, by linear interpolation between order statistics (NumPy's default).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"values: got shape {x.shape}, expected a non-empty 1-D finite sample")
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float(med), float(q1), float(q3)
