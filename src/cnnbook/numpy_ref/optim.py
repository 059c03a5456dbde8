"""SGD with momentum and weight decay, step for step like torch.optim.SGD (assignment 06)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validate import check_float_array, check_number

__all__ = ["sgd_momentum_step"]


def sgd_momentum_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    velocities: Sequence[np.ndarray] | None,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One update of SGD with momentum, identical to ``torch.optim.SGD`` (dampening 0,
    no Nesterov)::

        g = grad + weight_decay * p
        v = momentum * v + g
        p = p - lr * v

    PyTorch starts its momentum buffer as ``g`` itself on the first step. Starting from zero
    velocities gives the same thing, since ``momentum * 0 + g = g``: pass zero arrays (or
    ``None``) as ``velocities`` on the first step and the returned ones afterwards.

    Args:
        params: list of parameter arrays (float32 or float64).
        grads: list of gradients, one per parameter, same shapes and dtypes.
        velocities: list of velocities, one per parameter, or None for all zeros (first step).
        lr: learning rate, >= 0.
        momentum: momentum factor, >= 0 (0 gives plain SGD).
        weight_decay: L2 penalty coefficient, >= 0.

    Returns:
        ``(new_params, new_velocities)``: new lists of new arrays; the inputs are not modified.

    Shape:
        every new array has the shape of its parameter.

    Example:
        >>> p, v = sgd_momentum_step([np.ones(2)], [np.ones(2)], None, lr=0.1)
        >>> p[0], v[0]
        (array([0.9, 0.9]), array([1., 1.]))
    """
    lr = check_number(lr, "lr", 0.0)
    momentum = check_number(momentum, "momentum", 0.0)
    weight_decay = check_number(weight_decay, "weight_decay", 0.0)
    for name, seq in (("params", params), ("grads", grads), ("velocities", velocities)):
        if seq is None and name == "velocities":
            continue
        if isinstance(seq, np.ndarray) or not isinstance(seq, (list, tuple)):
            raise ValueError(
                f"{name}: expected a list of arrays (one per parameter), got {type(seq).__name__}"
            )
        if len(seq) != len(params):
            raise ValueError(
                f"{name}: expected {len(params)} arrays (one per parameter), got {len(seq)}"
            )
    if velocities is None:
        velocities = [None] * len(params)

    new_params, new_velocities = [], []
    for i, (p, g, v) in enumerate(zip(params, grads, velocities, strict=True)):
        check_float_array(p, f"params[{i}]")
        for name, a in ((f"grads[{i}]", g), (f"velocities[{i}]", v)):
            if a is None:
                continue
            check_float_array(a, name)
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(
                    f"{name}: expected shape {p.shape} and dtype {p.dtype} like params[{i}], "
                    f"got shape {a.shape} and dtype {a.dtype}"
                )
        step = g + weight_decay * p if weight_decay else g.copy()
        if v is not None:
            step += momentum * v
        new_velocities.append(step)
        new_params.append(p - lr * step)
    return new_params, new_velocities
