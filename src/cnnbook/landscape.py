"""How smooth is the loss along the path that training takes? (chapter 5)

Santurkar et al. (2018) compared networks with and without batch normalisation by stopping at
steps of training and looking along the gradient direction: how much the loss varies over a range of
step sizes (the *loss landscape*), how much the gradient changes (its *predictiveness*), and the
largest change of the gradient per unit distance moved (an *effective beta-smoothness*, a local
Lipschitz constant of the gradient). :func:`probe_along_gradient` takes that measurement at the
current weights; :func:`train_with_probes` trains with plain SGD and takes it every few steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["probe_along_gradient", "summarise_probes", "train_with_probes"]

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def _check_step_sizes(step_sizes: Sequence[float]) -> list[float]:
    try:
        sizes = [float(s) for s in step_sizes]
    except (TypeError, ValueError):
        raise ValueError(
            f"step_sizes: expected a sequence of numbers, got {step_sizes!r}"
        ) from None
    if not sizes or min(sizes) <= 0 or not all(np.isfinite(sizes)):
        raise ValueError(f"step_sizes: expected positive finite numbers, got {list(step_sizes)}")
    return sizes


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _loss_and_grad(model, params, loss_fn, X, y) -> tuple[float, list[torch.Tensor]]:
    loss = loss_fn(model(X), y)
    grads = torch.autograd.grad(loss, params)
    return float(loss.detach()), [g.detach() for g in grads]


def _flat_norm(tensors: Sequence[torch.Tensor]) -> float:
    return float(torch.sqrt(sum((t.double() ** 2).sum() for t in tensors)))


def probe_along_gradient(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    step_sizes: Sequence[float],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, np.ndarray | float]:
    """Loss and gradient at ``w - eta * g`` for each step size ``eta``, with ``g`` the gradient at
    the current weights ``w`` on the batch ``(X, y)``.

    The probes see the network as a training step does (batch-norm layers use the statistics of
    ``X``) but with dropout switched off, so that every probe evaluates the same function. The
    model is left as it was: weights, buffers (running statistics), train/eval modes.

    Args:
        model: the network.
        X: a batch of inputs.
        y: their labels.
        step_sizes: positive step sizes ``eta``.
        loss_fn: default ``torch.nn.functional.cross_entropy``.

    Returns:
        ``{"loss0": L(w), "grad_norm": ||g||, "loss": (S,) L(w - eta g),
        "grad_change": (S,) ||grad L(w - eta g) - g||, "beta": (S,) grad_change / (eta ||g||)}``
        for the ``S`` step sizes; ``beta`` is the change of the gradient per unit distance moved.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    sizes = _check_step_sizes(step_sizes)
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no trainable parameters")
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = {m: m.training for m in model.modules()}
    model.train()
    for m in model.modules():
        if isinstance(m, _DROPOUTS):
            m.eval()
    try:
        start = [p.detach().clone() for p in params]
        loss0, g = _loss_and_grad(model, params, loss_fn, X, y)
        g_norm = _flat_norm(g)
        losses, changes = [], []
        for eta in sizes:
            with torch.no_grad():
                for p, p0, gi in zip(params, start, g, strict=True):
                    p.copy_(p0 - eta * gi)
            loss, g_eta = _loss_and_grad(model, params, loss_fn, X, y)
            losses.append(loss)
            changes.append(_flat_norm([a - b for a, b in zip(g_eta, g, strict=True)]))
    finally:
        model.load_state_dict(saved)
        for m, was_training in modes.items():
            m.training = was_training
    changes_arr = np.asarray(changes)
    distances = np.asarray(sizes) * g_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(distances > 0, changes_arr / distances, 0.0)
    return {
        "loss0": loss0,
        "grad_norm": g_norm,
        "loss": np.asarray(losses),
        "grad_change": changes_arr,
        "beta": beta,
    }


def train_with_probes(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    batch_size: int = 64,
    probe_every: int = 10,
    step_sizes: Sequence[float] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Train ``model`` with plain SGD on ``(X, y)`` and probe the landscape every few steps.

    At steps ``0, probe_every, 2 * probe_every, ...``, before the update, the current mini-batch
    is probed with :func:`probe_along_gradient`; then the SGD step ``w <- w - lr * g`` is taken on
    the same batch. Mini-batches are drawn without replacement, reshuffled every pass, seeded.

    Args:
        model: the network (trained in place).
        X, y: the training set.
        lr: the SGD learning rate.
        steps: number of SGD steps.
        batch_size: examples per step.
        probe_every: probe every this many steps.
        step_sizes: the probe's step sizes; default ``lr * [0.5, 1, 2, 4]``.
        seed: seeds the batch order.

    Returns:
        ``{"train_loss": (steps,), "probe_steps": (P,), "loss": (P, S), "grad_change": (P, S),
        "beta": (P, S), "loss0": (P,), "grad_norm": (P,)}``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    steps = _check_positive_int(steps, "steps")
    batch_size = _check_positive_int(batch_size, "batch_size")
    probe_every = _check_positive_int(probe_every, "probe_every")
    if batch_size > len(X):
        raise ValueError(f"batch_size: expected at most len(X) = {len(X)}, got {batch_size}")
    sizes = _check_step_sizes(
        [lr * f for f in (0.5, 1, 2, 4)] if step_sizes is None else step_sizes
    )
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.SGD(model.parameters(), lr=float(lr))
    order, pos = torch.randperm(len(X), generator=gen), 0
    train_loss, probes, probe_steps = [], [], []
    model.train()
    for step in range(steps):
        if pos + batch_size > len(X):
            order, pos = torch.randperm(len(X), generator=gen), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        xb, yb = X[idx], y[idx]
        if step % probe_every == 0:
            probes.append(probe_along_gradient(model, xb, yb, sizes))
            probe_steps.append(step)
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_loss.append(float(loss.detach()))
    out = {"train_loss": np.asarray(train_loss), "probe_steps": np.asarray(probe_steps)}
    for key in ("loss", "grad_change", "beta", "loss0", "grad_norm"):
        out[key] = np.asarray([p[key] for p in probes])
    return out


def summarise_probes(run: dict) -> dict[str, np.ndarray]:
    """Reduce the probes of :func:`train_with_probes` to one number per probe, over step sizes.

    Args:
        run: a result of :func:`train_with_probes` (arrays or nested lists).

    Returns:
        ``{"loss_range": max - min of the loss over the step sizes (with the loss at the current
        weights included), "grad_change": the largest change of the gradient,
        "beta": the largest change of the gradient per unit distance}``, each of shape ``(P,)``.
    """
    missing = {"loss", "loss0", "grad_change", "beta"} - set(run)
    if missing:
        raise ValueError(f"run: missing keys {sorted(missing)}; expected train_with_probes' result")
    loss = np.column_stack(
        [np.asarray(run["loss0"], dtype=float), np.asarray(run["loss"], dtype=float)]
    )
    return {
        "loss_range": loss.max(axis=1) - loss.min(axis=1),
        "grad_change": np.asarray(run["grad_change"], dtype=float).max(axis=1),
        "beta": np.asarray(run["beta"], dtype=float).max(axis=1),
    }
