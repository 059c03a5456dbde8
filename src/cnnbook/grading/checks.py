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
    "DEFAULT_TOLERANCES",
    "as_numpy",
    "check_close",
    "check_equal",
    "check_raises_value_error",
    "check_unchanged",
    "check_vectorised",
    "describe_change",
]


# (rtol, atol) by the oracle's dtype, when a check does not give its own
DEFAULT_TOLERANCES = {
    "float64": (1e-5, 1e-7),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
}


def as_numpy(value: Any) -> np.ndarray:
    """Turn a NumPy array, a number or a torch tensor (the oracle) into a NumPy array."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        return value.detach().cpu().numpy()
    return np.asarray(value)


def check_close(
    got: Any,
    expected: Any,
    name: str = "output",
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
) -> None:
    """Assert that ``got`` matches ``expected`` in type, shape, dtype and value.

    Args:
        got: the student's result; must be a NumPy array (or a Python number when ``expected`` is
            a 0-d value).
        expected: the oracle (NumPy array, torch tensor or number).
        name: what ``got`` is, used in the message (e.g. ``"dx"``).
        rtol, atol: elementwise tolerance ``|got - expected| <= atol + rtol * |expected|``;
            by default they follow the oracle's dtype (:data:`DEFAULT_TOLERANCES`): float64
            ``1e-5, 1e-7``; float32 ``1e-4, 1e-5`` (two float32 computations of the same sum in
            another order differ by about 1e-6 relative); float16 ``1e-2, 1e-3``.
        check_dtype: also require ``got.dtype == expected.dtype``.

    Raises:
        AssertionError: with the first problem found.
    """
    exp = as_numpy(expected)
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(
        exp.dtype.name, DEFAULT_TOLERANCES["float64"]
    )
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
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


def describe_change(before: Any, after: Any) -> str:
    """What changed between two versions of an array, in a few words: the shape or dtype, or how
    many values and the first one (index, old and new value). Empty when nothing changed."""
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        return f"its shape changed from {before.shape} to {after.shape}"
    if before.dtype != after.dtype:
        return f"its dtype changed from {before.dtype} to {after.dtype}"
    same = before == after
    if before.dtype.kind in "fc":
        same |= np.isnan(before) & np.isnan(after)
    if np.all(same):
        return ""
    first = tuple(int(i) for i in np.argwhere(~same)[0]) if before.ndim else ()
    old, new = before[first].item(), after[first].item()
    old, new = (f"{v:.6g}" if isinstance(v, float) else repr(v) for v in (old, new))
    return (
        f"{int((~same).sum())} of {same.size} values changed, the first at index {first}: "
        f"was {old}, now {new}"
    )


def check_unchanged(before: np.ndarray, after: np.ndarray, name: str) -> None:
    """Assert that an input array was not modified in place (``before`` is a copy taken earlier)."""
    change = describe_change(before, after)
    if change:
        raise AssertionError(
            f"{name} was modified in place ({change}); functions must not change their inputs: "
            "build a new array, or work on a copy (x = x.copy())"
        )


# Inputs with one long axis, one channel and a 1x1 kernel: a Python loop over that axis costs at
# least 1.7 microseconds a step (one small NumPy call), about 2 s over 2**20 steps; a vectorised
# version a few milliseconds, plus the channel's cost of sending 8 MiB each way.
_LONG = 1 << 20
_LONG_AXIS_SHAPES = {"N": (_LONG, 1, 1, 1), "H": (1, 1, _LONG, 1), "W": (1, 1, 1, _LONG)}


def _seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    import time

    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def check_vectorised(
    conv_forward: Callable[..., Any],
    name: str = "conv2d_forward",
    factor: float = 20.0,
    slack: float = 0.6,
    repeats: int = 3,
) -> dict[str, tuple[float, float]]:
    """Assert that ``conv_forward(x, w, b)`` has no Python loop over N, H or W.

    The check times the function from the caller's process (in the grader: from outside the
    student's jail, where nothing the student's code does can switch it off) on three inputs, each
    with one axis of 2**20 positions, one channel and a 1x1 kernel, next to the same arithmetic
    done by one NumPy expression (a few milliseconds). A Python loop over the long axis costs at
    least one small NumPy call a step, 1.7 microseconds or more: about 2 s in all. A vectorised
    function takes milliseconds, plus the time to send 8 MiB to the student's process and back
    (about a tenth of a second). It fails when it is slower than ``factor`` times the NumPy
    expression plus ``slack`` seconds (the channel, and room for a busy machine) on the fastest of
    ``repeats`` runs (noise only ever adds time). The outputs are compared as well.

    Returns:
        axis -> (seconds of the function, seconds of the NumPy expression).
    """
    rng = np.random.default_rng(12345)
    w = rng.standard_normal((1, 1, 1, 1))
    b = rng.standard_normal(1)
    timings = {}
    for axis, shape in _LONG_AXIS_SHAPES.items():
        x = rng.standard_normal(shape)
        t_ref, want = min(_seconds(lambda x=x: x * w[0, 0, 0, 0] + b[0]) for _ in range(repeats))
        limit = factor * t_ref + slack
        t_fn = float("inf")
        for _ in range(repeats):  # stop at the first run under the limit
            seconds, got = _seconds(lambda x=x: conv_forward(x, w, b))
            t_fn = min(t_fn, seconds)
            if t_fn <= limit:
                break
        out = got[0] if isinstance(got, tuple) else got
        check_close(out, want, f"{name} on a {shape} input with a 1x1 kernel", rtol=1e-7, atol=1e-9)
        if t_fn > limit:
            raise AssertionError(
                f"{name} took {t_fn:.2f} s on an input of shape {shape} (a long {axis} axis) "
                f"with a 1x1 kernel, where one NumPy expression takes {1e3 * t_ref:.1f} ms: it "
                f"still loops over {axis} in Python"
            )
        timings[axis] = (t_fn, t_ref)
    return timings
