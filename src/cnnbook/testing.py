"""Checking layers: numeric gradients, relative errors and comparisons with PyTorch.

Used by the project's tests and by the assignments' tests, so every failure message says what
differs, by how much and where, in words a student can act on.

Example:
    >>> import numpy as np, torch.nn.functional as F
    >>> from cnnbook import numpy_ref as nr
    >>> rng = np.random.default_rng(0)
    >>> inputs = {"x": rng.normal(size=(2, 3, 6, 6)), "w": rng.normal(size=(4, 3, 3, 3)),
    ...           "b": rng.normal(size=4)}
    >>> errors = compare_with_torch(nr.conv2d_forward, nr.conv2d_backward, F.conv2d, inputs,
    ...                             kwargs={"stride": 2, "padding": 1})
    >>> sorted(errors)
    ['b', 'out', 'w', 'x']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "TOLERANCES",
    "rel_error",
    "numeric_gradient",
    "assert_close",
    "compare_with_torch",
    "check_numeric_gradients",
]

# (rtol, atol) per dtype for comparisons with PyTorch: an element passes when
# |actual - expected| <= atol * scale + rtol * |expected|, with scale the largest |expected| of
# the array (at least 1). float32 carries about 7 significant digits and a sum of a few hundred
# terms loses one or two of them relative to its largest terms, not to the (possibly tiny) result,
# hence the scaled atol.
TOLERANCES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-9),
}


def rel_error(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """Relative error ``||a - b|| / (||a|| + ||b||)`` (Frobenius norms), in float64.

    Scale free and bounded by 1: about 1e-7 or less means two float64 gradients agree, above
    1e-3 something is wrong. Two all-zero arrays give 0.

    Args:
        a, b: arrays (or numbers) of the same shape.

    Returns:
        A float in [0, 1].

    Example:
        >>> rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) < 1e-9
        True
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a, {a.shape}, got {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)


def numeric_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, dout: np.ndarray | None = None, h: float = 1e-6
) -> np.ndarray:
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``, in float64.

    Each element of ``x`` is moved by +h and -h in turn:
    ``grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2h)``. That costs two calls of
    ``f`` per element, so keep ``x`` small (a few hundred elements).

    Args:
        f: function of one array returning an array (or a scalar when ``dout`` is None). It
            receives a float64 copy of ``x`` and must not keep it.
        x: the point, any float array.
        dout: weights of f's outputs (the upstream gradient); None when f returns a scalar.
        h: step, > 0. 1e-6 suits float64 functions of values of order 1.

    Returns:
        A float64 array shaped like ``x``.

    Example:
        >>> g = numeric_gradient(lambda v: (v**2).sum(), np.array([1.0, -2.0]))
        >>> np.allclose(g, [2.0, -4.0])
        True
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x: expected a floating-point NumPy array, got {type(x).__name__}")
    if not (isinstance(h, (int, float)) and h > 0):
        raise ValueError(f"h: expected a positive step, got {h!r}")
    point = x.astype(np.float64)  # a copy: f never sees the caller's array
    weights = None if dout is None else np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(point)

    def value() -> float:
        result = np.asarray(f(point), dtype=np.float64)
        if weights is None:
            if result.size != 1:
                raise ValueError(
                    f"dout: f returns an array of shape {result.shape}; pass dout of that shape "
                    "(or make f return a scalar)"
                )
            return float(result.reshape(()))
        if result.shape != weights.shape:
            raise ValueError(f"dout: expected f's output shape {result.shape}, got {weights.shape}")
        return float(np.sum(result * weights))

    flat_point, flat_grad = point.reshape(-1), grad.reshape(-1)
    for i in range(flat_point.size):
        original = flat_point[i]
        flat_point[i] = original + h
        plus = value()
        flat_point[i] = original - h
        minus = value()
        flat_point[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def _tolerances(dtype: np.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float32)])
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def assert_close(
    actual: Any,
    expected: Any,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    what: str = "the expected value",
) -> float:
    """Assert that ``actual`` matches ``expected`` elementwise, with a message that helps.

    An element passes when ``|actual - expected| <= atol * scale + rtol * |expected|`` where
    ``scale = max(1, max |expected|)``: rounding errors of sums grow with the size of their
    terms, so the absolute tolerance follows the array's magnitude. On failure the
    AssertionError names ``name``, gives the largest absolute and relative errors, the index of
    the worst element with both values there, and how many elements fail.

    Args:
        actual: what the code under test produced.
        expected: the reference (PyTorch, a numeric gradient, a hand-worked value).
        name: what is compared, e.g. "output" or "gradient dx".
        rtol, atol: tolerances; None takes :data:`TOLERANCES` for ``expected``'s dtype.
        what: how to call the reference in the message.

    Returns:
        The largest absolute error.
    """
    if not isinstance(actual, (np.ndarray, np.generic, int, float)):
        raise AssertionError(f"{name}: expected a NumPy array, got {type(actual).__name__}")
    actual_arr = np.asarray(actual)
    expected_arr = np.asarray(expected)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(
            f"{name}: shape {actual_arr.shape} differs from {what}'s shape {expected_arr.shape}"
        )
    rtol, atol = _tolerances(expected_arr.dtype, rtol, atol)
    # Flat float64 copies: 0-d arrays would turn into scalars along the way.
    a64 = actual_arr.astype(np.float64).reshape(-1)
    e64 = expected_arr.astype(np.float64).reshape(-1)
    if a64.size == 0:
        return 0.0
    finite_mismatch = np.isfinite(a64) != np.isfinite(e64)
    abs_err = np.abs(a64 - e64)
    abs_err[np.isnan(abs_err) & ~finite_mismatch] = 0.0  # both NaN, or the same infinity
    abs_err[finite_mismatch] = np.inf
    finite = np.abs(e64[np.isfinite(e64)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    excess = abs_err - (atol * scale + rtol * np.abs(e64))
    bad = excess > 0
    max_abs = float(abs_err.max())
    if not bad.any():
        return max_abs
    rel_err = abs_err / np.maximum(np.abs(e64), np.finfo(np.float64).tiny)
    flat_worst = int(np.argmax(excess))
    worst = np.unravel_index(flat_worst, expected_arr.shape)
    where = f"at index {tuple(int(i) for i in worst)}" if worst else "(a scalar)"
    raise AssertionError(
        f"{name} differs from {what}: max abs error {max_abs:.3g} (atol {atol * scale:.3g}), "
        f"max rel error {float(rel_err.max()):.3g} (rtol {rtol:g}); worst element {where}: got "
        f"{a64[flat_worst]:.8g}, expected {e64[flat_worst]:.8g}; {int(bad.sum())} of {bad.size} "
        "elements "
        "are outside the tolerance"
    )


def _as_tuple(result: Any) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def compare_with_torch(
    forward: Callable[..., Any],
    backward: Callable[[np.ndarray, Any], Any] | None,
    torch_fn: Callable[..., torch.Tensor],
    inputs: Mapping[str, np.ndarray],
    *,
    grad_of: Sequence[str] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    torch_kwargs: Mapping[str, Any] | None = None,
    dout: np.ndarray | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Run one op through NumPy (forward + backward) and through PyTorch (+ autograd); compare.

    The NumPy side is ``forward(*inputs.values(), **kwargs)``, which returns ``out`` or
    ``(out, cache, ...)``, then ``backward(dout, cache)``, which returns the gradients of the
    inputs named in ``grad_of``, in that order. The PyTorch side is
    ``torch_fn(*tensors, **torch_kwargs)`` on tensors holding the same values and dtype, then
    ``out.backward(dout)``. Also checked: output and gradient shapes and dtypes (float32 in,
    float32 out), and that ``forward`` and ``backward`` left their inputs untouched.

    Args:
        forward: the NumPy forward function under test.
        backward: its backward function, or None to compare the forward pass only.
        torch_fn: the reference, e.g. ``torch.nn.functional.conv2d`` or a lambda that reorders
            arguments, taking the inputs positionally in the order of ``inputs``.
        inputs: name -> array, in the forward function's argument order; arrays only.
        grad_of: names of the inputs whose gradients ``backward`` returns, in its order;
            default every floating-point input.
        kwargs: extra keyword arguments of ``forward`` (e.g. stride, padding).
        torch_kwargs: keyword arguments of ``torch_fn``; default ``kwargs``.
        dout: the upstream gradient; default a seeded standard normal array shaped like out.
        rtol, atol: tolerances; default :data:`TOLERANCES` for the inputs' dtype.
        seed: seed of the default ``dout``.

    Returns:
        The largest absolute error of ``"out"`` and of each gradient (keyed by input name).

    Raises:
        AssertionError: naming the output or gradient that differs, with the largest absolute
            and relative errors and the index of the worst element.
    """
    kwargs = dict(kwargs or {})
    torch_kwargs = dict(kwargs if torch_kwargs is None else torch_kwargs)
    names = list(inputs)
    if grad_of is None:  # every floating-point input (integer labels have no gradient)
        grad_of = [k for k, v in inputs.items() if np.issubdtype(v.dtype, np.floating)]
    grad_of = list(grad_of)
    unknown = [g for g in grad_of if g not in inputs]
    if unknown:
        raise ValueError(f"grad_of: {unknown} are not among the inputs {names}")
    dtype = next(iter(inputs.values())).dtype
    label = getattr(forward, "__name__", "forward")
    originals = {k: v.copy() for k, v in inputs.items()}

    # NumPy side.
    result = _as_tuple(forward(*inputs.values(), **kwargs))
    out = result[0]
    cache = result[1] if len(result) > 1 else None

    # PyTorch side.
    tensors = [
        torch.from_numpy(v.copy()).requires_grad_(k in grad_of) for k, v in originals.items()
    ]
    out_t = torch_fn(*tensors, **torch_kwargs)
    expected_out = out_t.detach().numpy()

    if not isinstance(out, np.ndarray):
        raise AssertionError(f"{label}: the output should be a NumPy array, got {type(out)}")
    if out.shape != expected_out.shape:
        raise AssertionError(
            f"{label}: output shape {out.shape} differs from PyTorch's {expected_out.shape}"
        )
    if out.dtype != dtype:
        raise AssertionError(
            f"{label}: output dtype {out.dtype} differs from the input dtype {dtype}; float32 "
            "inputs must give float32 outputs (watch for float64 constants or np.zeros without "
            "dtype=)"
        )
    errors = {"out": assert_close(out, expected_out, f"{label}: output", rtol, atol, "PyTorch")}
    _assert_untouched(inputs, originals, label)

    if backward is None:
        return errors
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    dout_copy = dout.copy()
    grads = _as_tuple(backward(dout, cache))
    if len(grads) != len(grad_of):
        raise AssertionError(
            f"{label}: the backward pass returned {len(grads)} gradient(s), expected "
            f"{len(grad_of)} ({', '.join('d' + g for g in grad_of)})"
        )
    if not np.array_equal(dout, dout_copy):
        raise AssertionError(f"{label}: the backward pass modified dout in place")
    out_t.backward(torch.from_numpy(dout.copy()))
    by_name = dict(zip(names, tensors, strict=True))
    for g_name, grad in zip(grad_of, grads, strict=True):
        expected = by_name[g_name].grad
        expected = np.zeros_like(inputs[g_name]) if expected is None else expected.numpy()
        what = f"{label}: gradient d{g_name}"
        if not isinstance(grad, np.ndarray):
            raise AssertionError(f"{what} should be a NumPy array, got {type(grad).__name__}")
        if grad.shape != expected.shape:
            raise AssertionError(
                f"{what} has shape {grad.shape}, expected {expected.shape} (the shape of {g_name})"
            )
        if grad.dtype != dtype:
            raise AssertionError(f"{what} has dtype {grad.dtype}, expected {dtype} like the input")
        errors[g_name] = assert_close(grad, expected, what, rtol, atol, "PyTorch's autograd")
    _assert_untouched(inputs, originals, label)
    return errors


def _assert_untouched(
    inputs: Mapping[str, np.ndarray], originals: Mapping[str, np.ndarray], label: str
) -> None:
    for name, value in inputs.items():
        if not np.array_equal(value, originals[name], equal_nan=True):
            raise AssertionError(
                f"{label}: input {name} was modified in place; work on a copy instead"
            )


def check_numeric_gradients(
    forward: Callable[..., Any],
    backward: Callable[[np.ndarray, Any], Any],
    inputs: Mapping[str, np.ndarray],
    *,
    grad_of: Sequence[str] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    h: float = 1e-6,
    tol: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Compare a backward pass with centred differences of its forward pass, in float64.

    Args:
        forward, backward: the pair under test (forward returns ``(out, cache, ...)``).
        inputs: name -> float64 array, in the forward function's argument order. Keep them small
            and away from kinks (ReLU at 0, ties inside pooling windows).
        grad_of: names of the inputs whose gradients ``backward`` returns, in its order.
        kwargs: extra keyword arguments of ``forward``.
        h: finite-difference step.
        tol: largest accepted :func:`rel_error` per gradient.
        seed: seed of the random upstream gradient.

    Returns:
        The :func:`rel_error` of each gradient, keyed by input name.

    Raises:
        AssertionError: naming the gradient whose relative error exceeds ``tol``.
    """
    kwargs = dict(kwargs or {})
    names = list(inputs)
    grad_of = list(names if grad_of is None else grad_of)
    for name, value in inputs.items():
        if value.dtype != np.float64:
            raise ValueError(f"inputs[{name!r}]: numeric checks need float64, got {value.dtype}")
    label = getattr(forward, "__name__", "forward")
    result = _as_tuple(forward(*inputs.values(), **kwargs))
    out, cache = result[0], result[1]
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = dict(zip(grad_of, _as_tuple(backward(dout, cache)), strict=True))
    errors = {}
    for name in grad_of:

        def f(value: np.ndarray, name: str = name) -> np.ndarray:
            args = dict(inputs)
            args[name] = value
            return _as_tuple(forward(*args.values(), **kwargs))[0]

        numeric = numeric_gradient(f, inputs[name], dout, h=h)
        errors[name] = rel_error(grads[name], numeric)
        if errors[name] > tol:
            worst = np.unravel_index(int(np.argmax(np.abs(grads[name] - numeric))), numeric.shape)
            raise AssertionError(
                f"{label}: gradient d{name} disagrees with the numeric gradient: rel_error "
                f"{errors[name]:.3g} > {tol:g}; worst element at index "
                f"{tuple(int(i) for i in worst)}: got {grads[name][worst]:.8g}, numeric "
                f"{numeric[worst]:.8g}"
            )
    return errors
