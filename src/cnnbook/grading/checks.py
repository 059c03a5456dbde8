"""Assertions for the assignments' test cells, with failure messages a student can act on.

Each helper raises ``AssertionError`` whose message names the quantity, what was given and what was
expected (shape, dtype, the worst element and its index). They take plain data (NumPy arrays,
numbers, torch tensors as the oracle) so they work the same in Colab, in plain Jupyter and in the
grader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "as_numpy",
    "check_close",
    "check_equal",
    "check_raises_value_error",
    "check_unchanged",
]


def as_numpy(value: Any) -> np.ndarray:
    """Turn a NumPy array, a number or a torch tensor (the oracle) into a NumPy array."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        return value.detach().cpu().numpy()
    return np.asarray(value)


def check_close(
    got: Any,
    expected: Any,
    name: str = "output",
    rtol: float = 1e-5,
    atol: float = 1e-7,
    check_dtype: bool = True,
) -> None:
    """Assert that ``got`` matches ``expected`` in type, shape, dtype and value.

    Args:
        got: the student's result; must be a NumPy array (or a Python number when ``expected`` is
            a 0-d value).
        expected: the oracle (NumPy array, torch tensor or number).
        name: what ``got`` is, used in the message (e.g. ``"dx"``).
        rtol, atol: elementwise tolerance ``|got - expected| <= atol + rtol * |expected|``.
        check_dtype: also require ``got.dtype == expected.dtype``.

    Raises:
        AssertionError: with the first problem found.
    """
    exp = as_numpy(expected)
    if exp.ndim > 0 and not isinstance(got, np.ndarray):
        raise AssertionError(
            f"{name}: expected a NumPy array of shape {exp.shape}, got {type(got).__name__}"
        )
    arr = np.asarray(got)
    if arr.shape != exp.shape:
        raise AssertionError(f"{name}: wrong shape: got {arr.shape}, expected {exp.shape}")
    if check_dtype and exp.ndim > 0 and arr.dtype != exp.dtype:
        raise AssertionError(
            f"{name}: wrong dtype: got {arr.dtype}, expected {exp.dtype} "
            "(float32 in -> float32 out, float64 in -> float64 out)"
        )
    arr64 = arr.astype(np.float64)
    exp64 = exp.astype(np.float64)
    if not np.all(np.isfinite(arr64)):
        bad = np.argwhere(~np.isfinite(arr64))[0]
        where = tuple(int(i) for i in bad)
        raise AssertionError(
            f"{name}: contains {arr64[where] if where else arr64} at index {where} "
            f"(expected {exp64[where] if where else exp64}); look for overflow or 0/0"
        )
    diff = np.abs(arr64 - exp64)
    allowed = atol + rtol * np.abs(exp64)
    wrong = diff > allowed
    if np.any(wrong):
        excess = np.where(wrong, diff - allowed, -np.inf)
        where = np.unravel_index(int(np.argmax(excess)), exp64.shape) if exp64.ndim else ()
        where = tuple(int(i) for i in where)
        raise AssertionError(
            f"{name}: {int(wrong.sum())} of {wrong.size} values are wrong; worst at index {where}: "
            f"got {arr64[where]:.6g}, expected {exp64[where]:.6g} "
            f"(|difference| {diff[where]:.3g} > tolerance {allowed[where]:.3g})"
        )


def check_equal(got: Any, expected: Any, name: str = "result") -> None:
    """Assert exact equality of two plain values (ints, tuples, strings), with a clear message."""
    if isinstance(expected, int) and not isinstance(expected, bool):
        if isinstance(got, bool) or not isinstance(got, int | np.integer):
            raise AssertionError(
                f"{name}: expected an int ({expected}), got {type(got).__name__} {got!r}"
            )
    if got != expected:
        raise AssertionError(f"{name}: got {got!r}, expected {expected!r}")


def check_raises_value_error(
    func: Callable[..., Any], *args: Any, name: str, **kwargs: Any
) -> None:
    """Assert that ``func(*args, **kwargs)`` raises ``ValueError``.

    Args:
        func: the function under test.
        name: a description of the bad input, used in the message.
    """
    try:
        func(*args, **kwargs)
    except ValueError:
        return
    except Exception as error:  # a crash is not the clear error a user needs
        raise AssertionError(
            f"{name}: expected a ValueError, got {type(error).__name__}: {error}"
        ) from None
    raise AssertionError(f"{name}: expected a ValueError, but nothing was raised")


def check_unchanged(before: np.ndarray, after: np.ndarray, name: str) -> None:
    """Assert that an input array was not modified in place (``before`` is a copy taken earlier)."""
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
        raise AssertionError(
            f"{name} was modified in place; functions must not change their inputs"
        )
