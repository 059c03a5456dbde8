"""Argument checks shared by every layer: each raises a ValueError that names the argument."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r} ({type(value).__name__})"


def check_float_array(x: Any, name: str, ndim: int | None = None, min_ndim: int = 0) -> np.ndarray:
    """Return ``x`` if it is a float32/float64 ndarray of the expected rank, else raise."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a NumPy array, got {_describe(x)}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{name}: expected a floating-point array (float32 or float64), got dtype {x.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got {x.ndim}-D with shape {x.shape}")
    if x.ndim < min_ndim:
        raise ValueError(
            f"{name}: expected at least {min_ndim} dimensions, got {x.ndim}-D with shape {x.shape}"
        )
    return x


def check_nchw(x: Any, name: str = "x") -> np.ndarray:
    """A 4-D float array laid out as (N, C, H, W)."""
    if isinstance(x, np.ndarray) and x.ndim != 4 and x.dtype in FLOAT_DTYPES:
        raise ValueError(
            f"{name}: expected a 4-D array (N, C, H, W), got {x.ndim}-D with shape {x.shape}"
        )
    return check_float_array(x, name, ndim=4)


def check_same_dtype(a: np.ndarray, a_name: str, ref: np.ndarray, ref_name: str) -> None:
    if a.dtype != ref.dtype:
        raise ValueError(
            f"{a_name}: dtype {a.dtype} does not match {ref_name}'s dtype {ref.dtype}; "
            "use one floating-point type for all arrays"
        )


def check_shape(a: np.ndarray, name: str, expected: tuple[int, ...], why: str = "") -> None:
    if a.shape != tuple(expected):
        extra = f" ({why})" if why else ""
        raise ValueError(f"{name}: expected shape {tuple(expected)}{extra}, got {a.shape}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a pair of ints, each at least ``minimum``."""
    if _is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"{name}: expected an int or a pair of ints (h, w), got {_describe(value)}"
        )
    if min(pair) < minimum:
        kind = "positive" if minimum == 1 else f">= {minimum}"
        if minimum == 0:
            kind = "non-negative"
        raise ValueError(f"{name}: expected {kind} values, got {value!r}")
    return pair


def check_int(value: Any, name: str, minimum: int) -> int:
    """An int (not a bool) that is at least ``minimum``."""
    if not _is_int(value):
        raise ValueError(f"{name}: expected an int, got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def check_number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A real number inside the given (optionally open) bounds."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name}: expected a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name}: expected a value in {left}{lo}, {hi}{right}, got {value:g}")
    return value


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {_describe(value)}")
    return bool(value)
