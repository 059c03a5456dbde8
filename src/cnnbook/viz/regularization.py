"""Experiments and figures of chapter 6 about fitting: learning rates, schedules, regularisation.

The diagnostics of one trained network (curves, confusion matrix, filters, feature maps) live in
:mod:`cnnbook.viz.training`; this module holds what compares several training runs:

    kernel_gradient_by_positions  a kernel's gradient as an explicit sum over its positions
    optimizer_paths, plot_optimizer_paths  SGD, momentum and Adam on a long, narrow valley
    best_valley_lr, plot_valley_progress   each optimiser at its best rate of a grid, loss per step
    step_losses, plot_step_losses  training loss after every step for several learning rates
    lr_schedules, plot_lr_schedules  step, cosine and reduce-on-plateau over the epochs
    random_shift, ShiftedLoader   data augmentation: every image moved by a few pixels
    regularization_sweep   one run per (weight decay, augmentation) on a tiny training subset
    plot_fit_gap           training vs validation accuracy of chosen runs, side by side
    regularization_explorer  the sweep as an explorer (works without a kernel on the website)
    plot_seed_comparison, plot_weight_decay_sweep, plot_early_stopping  runs over several seeds
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from cnnbook.data import make_loader
from cnnbook.training import History, fit
from cnnbook.viz.figures import plain_log_ticks
from cnnbook.widgets import Explorer, Frame, figure_png

__all__ = [
    "kernel_gradient_by_positions",
    "OPTIMIZERS",
    "optimizer_paths",
    "plot_optimizer_paths",
    "step_losses",
    "plot_step_losses",
    "lr_schedules",
    "plot_lr_schedules",
    "random_shift",
    "ShiftedLoader",
    "regularization_sweep",
    "plot_fit_gap",
    "regularization_explorer",
    "valley_loss",
    "best_valley_lr",
    "plot_valley_progress",
    "plot_seed_comparison",
    "plot_weight_decay_sweep",
    "plot_early_stopping",
]

ModelFn = Callable[[], nn.Module]


# -- checks --
def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: got {value!r}, expected a positive int")
    return int(value)


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: got {value!r}, expected a positive number")
    return float(value)


def _images_labels(name: str, data: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept ``(X, y)`` as tensors or arrays; return float32 images and int64 labels."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name}: got {type(data).__name__}, expected a pair (X, y)")
    X, y = (torch.as_tensor(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in data)
    if not isinstance(X, torch.Tensor) or X.dim() != 4:
        raise ValueError(
            f"{name}: got X of shape {getattr(X, 'shape', None)}, expected (N, C, H, W) images"
        )
    if not isinstance(y, torch.Tensor) or y.shape != (X.shape[0],):
        raise ValueError(
            f"{name}: got y of shape {getattr(y, 'shape', None)}, expected ({X.shape[0]},) labels"
        )
    return X.float(), y.long()


def _batches(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(X), generator=generator) if shuffle else torch.arange(len(X))
    return [(X[i], y[i]) for i in order.split(batch_size)]


# -- the gradient of a kernel --
def kernel_gradient_by_positions(
    x: torch.Tensor, dout: torch.Tensor, kernel_size: int
) -> torch.Tensor:
    """The gradient of a stride-1, unpadded convolution's weights, summed position by position.

    A kernel is applied at every output position ``(i, j)``, so its gradient is the sum over those
    positions of the input patch it saw there, weighted by the upstream gradient at ``(i, j)``.
    This loop writes that sum out; autograd (or ``conv2d_backward``) must give the same tensor.

    Args:
        x: input ``(N, C_in, H, W)``.
        dout: upstream gradient ``(N, C_out, H - k + 1, W - k + 1)``.
        kernel_size: side ``k`` of the square kernel.

    Returns:
        ``dw`` of shape ``(C_out, C_in, k, k)``.

    Shape:
        ``dw[o, c, a, b] = sum_{n, i, j} dout[n, o, i, j] * x[n, c, i + a, j + b]``.
    """
    k = _positive_int("kernel_size", kernel_size)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x: got {getattr(x, 'shape', type(x).__name__)}, expected (N, C, H, W)")
    n, _, h, w = x.shape
    expected = (n, h - k + 1, w - k + 1)
    if (
        not isinstance(dout, torch.Tensor)
        or dout.dim() != 4
        or (dout.shape[0], dout.shape[2], dout.shape[3]) != expected
    ):
        raise ValueError(
            f"dout: got {getattr(dout, 'shape', type(dout).__name__)}, expected "
            f"(N, C_out, {expected[1]}, {expected[2]}) for a {k}x{k} kernel on {h}x{w} input"
        )
    dw = torch.zeros(dout.shape[1], x.shape[1], k, k, dtype=x.dtype)
    for i in range(expected[1]):
        for j in range(expected[2]):
            patch = x[:, :, i : i + k, j : j + k]  # (N, C_in, k, k): what the kernel saw here
            dw += torch.einsum("no,nchw->ochw", dout[:, :, i, j], patch)
    return dw


# -- optimisers on a valley --
#: The optimisers compared by :func:`optimizer_paths`: name -> (torch class, keyword arguments).
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, float]]] = {
    "SGD": (torch.optim.SGD, {}),
    "SGD + momentum 0.9": (torch.optim.SGD, {"momentum": 0.9}),
    "Adam": (torch.optim.Adam, {}),
}


def _valley(p: torch.Tensor, curvature: float) -> torch.Tensor:
    # An elongated bowl: gentle along x, steep along y (condition number = curvature).
    return 0.5 * (p[0] ** 2 + curvature * p[1] ** 2)


def optimizer_paths(
    lrs: Mapping[str, float],
    steps: int = 60,
    start: tuple[float, float] = (-4.0, 1.5),
    curvature: float = 20.0,
) -> dict[str, np.ndarray]:
    """Run each optimiser of :data:`OPTIMIZERS` on the loss ``(x^2 + curvature * y^2) / 2``.

    Args:
        lrs: learning rate per optimiser name (a subset of :data:`OPTIMIZERS`).
        steps: number of updates.
        start: starting point ``(x, y)``.
        curvature: how much steeper the valley is across (y) than along (x).

    Returns:
        name -> the visited points, shape ``(steps + 1, 2)``, the start included.
    """
    steps = _positive_int("steps", steps)
    curvature = _positive_float("curvature", curvature)
    unknown = set(lrs) - set(OPTIMIZERS)
    if unknown:
        raise ValueError(
            f"lrs: got unknown optimiser {sorted(unknown)}, expected {list(OPTIMIZERS)}"
        )
    paths = {}
    for name, lr in lrs.items():
        cls, kwargs = OPTIMIZERS[name]
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = cls([p], lr=_positive_float(f"lrs[{name!r}]", lr), **kwargs)
        points = [p.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            _valley(p, curvature).backward()
            opt.step()
            points.append(p.detach().clone())
        paths[name] = torch.stack(points).numpy()
    return paths


def plot_optimizer_paths(paths: Mapping[str, np.ndarray], curvature: float = 20.0) -> Figure:
    """The paths of :func:`optimizer_paths` over the contour lines of the valley.

    Returns:
        a figure with one axis: contours of the loss and one line of points per optimiser.
    """
    if not paths:
        raise ValueError("paths: got an empty mapping, expected at least one path")
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    _draw_paths(ax, paths, curvature)
    return fig


def _draw_paths(ax: plt.Axes, paths: Mapping[str, np.ndarray], curvature: float) -> None:
    points = np.concatenate(list(paths.values()))
    points = points[np.isfinite(points).all(axis=1)]
    lim_x = max(4.5, float(np.abs(points[:, 0]).max()) * 1.1)
    lim_y = max(2.0, min(float(np.abs(points[:, 1]).max()) * 1.1, 10.0))
    gx, gy = np.meshgrid(np.linspace(-lim_x, lim_x, 200), np.linspace(-lim_y, lim_y, 200))
    ax.contour(gx, gy, 0.5 * (gx**2 + curvature * gy**2), levels=12, colors="0.8", linewidths=0.7)
    for (name, path), marker in zip(paths.items(), "os^Dv", strict=False):
        ax.plot(path[:, 0], path[:, 1], marker=marker, ms=3, lw=1, label=name)
    ax.plot([0], [0], "k*", ms=10, label="minimum")
    ax.set_xlim(-lim_x, lim_x)
    ax.set_ylim(-lim_y, lim_y)
    ax.set_xlabel("weight 1 (gentle direction)")
    ax.set_ylabel("weight 2 (steep)")
    ax.legend(fontsize=8, loc="upper right")


# -- learning rates --
def step_losses(
    build_model: ModelFn,
    train: tuple[torch.Tensor, torch.Tensor],
    lrs: Sequence[float],
    *,
    steps: int = 60,
    batch_size: int = 64,
    momentum: float = 0.0,
    clip_norm: float | None = None,
    seed: int = 0,
) -> dict[float, np.ndarray]:
    """Training loss after every SGD step, one run per learning rate, from the same start.

    Every run starts from the same weights (the model is built after seeding) and sees the same
    batches, so the curves differ only by the learning rate. A run whose loss becomes infinite or
    NaN has diverged: it stops there and the rest of its curve is NaN.

    Args:
        build_model: returns a fresh network (called once per learning rate).
        train: ``(X, y)`` training images ``(N, C, H, W)`` and labels ``(N,)``.
        lrs: the learning rates to try.
        steps: number of updates per run.
        batch_size: examples per step.
        momentum: SGD momentum.
        clip_norm: if given, gradients are rescaled to at most this total norm before each step
            (``torch.nn.utils.clip_grad_norm_``).
        seed: seed of the weights and of the batch order.

    Returns:
        learning rate -> loss per step, shape ``(steps,)``.
    """
    X, y = _images_labels("train", train)
    steps = _positive_int("steps", steps)
    batch_size = _positive_int("batch_size", batch_size)
    if clip_norm is not None:
        _positive_float("clip_norm", clip_norm)
    if len(lrs) == 0:
        raise ValueError("lrs: got an empty sequence, expected at least one learning rate")
    curves = {}
    for lr in lrs:
        torch.manual_seed(seed)
        model = build_model()
        opt = torch.optim.SGD(model.parameters(), lr=_positive_float("lrs", lr), momentum=momentum)
        generator = torch.Generator().manual_seed(seed)
        batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        losses = np.full(steps, np.nan)
        model.train()
        for step in range(steps):
            if not batches:
                batches = _batches(X, y, batch_size, True, generator)
            xb, yb = batches.pop(0)
            loss = F.cross_entropy(model(xb), yb)
            if not torch.isfinite(loss):
                break
            losses[step] = loss.item()
            opt.zero_grad()
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
        curves[float(lr)] = losses
    return curves


def plot_step_losses(curves: Mapping[str, np.ndarray], title: str | None = None) -> Figure:
    """Loss per step on a log scale; a run that diverged ends with a cross and says so.

    Args:
        curves: label -> loss per step (NaN after a divergence), as from :func:`step_losses`.
        title: optional title.

    Returns:
        a figure with one axis and one line per run.
    """
    if not curves:
        raise ValueError("curves: got an empty mapping, expected at least one run")
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    for label, loss in curves.items():
        loss = np.asarray(loss, dtype=float)
        finite = np.isfinite(loss)
        last = int(np.flatnonzero(finite)[-1]) if finite.any() else -1
        diverged = last < len(loss) - 1 or (finite.any() and loss[last] > 10 * loss[0])
        (line,) = ax.plot(
            np.arange(1, len(loss) + 1),
            loss,
            lw=1.2,
            label=label + (" (diverged)" if diverged else ""),
        )
        if diverged and last >= 0:
            ax.plot(last + 1, loss[last], "x", color=line.get_color(), ms=9, mew=2)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)  # the losses span less than a decade: label more than 2 and 3
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (batch)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def lr_schedules(
    epochs: int, lr: float, monitored_losses: Sequence[float] | None = None
) -> dict[str, np.ndarray]:
    """The learning rate of each epoch under the schedules ``cnnbook.training.fit`` offers.

    The schedules are torch's own (``StepLR``, ``CosineAnnealingLR``, ``ReduceLROnPlateau``) with
    the settings ``fit`` uses, stepped on a throw-away optimiser, so the curves are exactly what a
    training run would see.

    Args:
        epochs: number of epochs.
        lr: the starting learning rate.
        monitored_losses: one validation loss per epoch for reduce-on-plateau (which only acts
            when the loss stops improving); without it that schedule is left out.

    Returns:
        schedule name -> learning rate per epoch, shape ``(epochs,)``.
    """
    epochs = _positive_int("epochs", epochs)
    lr = _positive_float("lr", lr)
    if monitored_losses is not None and len(monitored_losses) != epochs:
        raise ValueError(
            f"monitored_losses: got {len(monitored_losses)}, expected {epochs} (one per epoch)"
        )
    sched = torch.optim.lr_scheduler

    def run(make: Callable[[torch.optim.Optimizer], object], losses=None) -> np.ndarray:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        s = make(opt)
        rates = []
        for epoch in range(epochs):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()  # torch warns when a scheduler steps before its optimiser
            s.step(losses[epoch]) if losses is not None else s.step()
        return np.array(rates)

    out = {
        "constant": np.full(epochs, lr),
        "step (x0.1 every third)": run(lambda o: sched.StepLR(o, max(1, epochs // 3), gamma=0.1)),
        "cosine": run(lambda o: sched.CosineAnnealingLR(o, T_max=epochs)),
    }
    if monitored_losses is not None:
        out["reduce on plateau"] = run(
            lambda o: sched.ReduceLROnPlateau(o, factor=0.1, patience=2), list(monitored_losses)
        )
    return out


def plot_lr_schedules(
    schedules: Mapping[str, np.ndarray], monitored_losses: Sequence[float] | None = None
) -> Figure:
    """Learning rate per epoch of each schedule (log scale); the monitored loss on the right.

    Returns:
        a figure with one axis (two when ``monitored_losses`` is given).
    """
    if not schedules:
        raise ValueError("schedules: got an empty mapping, expected at least one schedule")
    ncols = 1 if monitored_losses is None else 2
    fig, axes = plt.subplots(
        1, ncols, figsize=(4.6 * ncols, 3.2), layout="constrained", squeeze=False
    )
    ax = axes[0, 0]
    for (name, rates), style in zip(schedules.items(), ["-", "--", "-.", ":"] * 3, strict=False):
        ax.step(np.arange(1, len(rates) + 1), rates, where="post", ls=style, lw=1.6, label=name)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    if monitored_losses is not None:
        ax2 = axes[0, 1]
        ax2.plot(np.arange(1, len(monitored_losses) + 1), monitored_losses, "o-", color="C3")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("validation loss (monitored)")
        ax2.grid(alpha=0.3)
    return fig


# -- augmentation --
def random_shift(
    X: torch.Tensor, max_shift: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Move every image by its own random whole-pixel offset, filling the border with zeros.

    Args:
        X: images ``(N, C, H, W)``.
        max_shift: largest offset in pixels along each axis (offsets are uniform in
            ``[-max_shift, max_shift]``); 0 returns a copy of ``X``.
        generator: torch random generator (default: the global one).

    Returns:
        the shifted images, same shape and dtype as ``X`` (``X`` itself is untouched).

    Shape:
        ``out[n, c, i, j] = X[n, c, i - dy[n], j - dx[n]]`` where that index exists, else 0.
    """
    if not isinstance(X, torch.Tensor) or X.dim() != 4:
        raise ValueError(f"X: got {getattr(X, 'shape', type(X).__name__)}, expected (N, C, H, W)")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift: got {max_shift!r}, expected an int >= 0")
    if max_shift == 0:
        return X.clone()
    n, _, h, w = X.shape
    s = max_shift
    offsets = torch.randint(-s, s + 1, (2, n), generator=generator)  # (dy, dx) per image
    padded = F.pad(X, (s, s, s, s))
    rows = (s - offsets[0])[:, None] + torch.arange(h)  # (N, H): source rows in the padded image
    cols = (s - offsets[1])[:, None] + torch.arange(w)  # (N, W)
    out = padded[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()  # advanced indexing put C last


class ShiftedLoader:
    """Wrap a loader of ``(X, y)`` batches; every batch comes out randomly shifted.

    Args:
        loader: an iterable of ``(X, y)`` batches (a ``DataLoader``, say).
        max_shift: largest shift in pixels, see :func:`random_shift`.
        seed: seed of the shifts.
    """

    def __init__(self, loader: Iterable, max_shift: int, seed: int = 0) -> None:
        self.loader = loader
        self.max_shift = max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.loader:
            yield random_shift(X, self.max_shift, self.generator), y


# -- over- and under-fitting --
def regularization_sweep(
    build_model: ModelFn,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    weight_decays: Sequence[float] = (0.0, 1e-3, 1e-2, 1e-1),
    shifts: Sequence[int] = (0, 2),
    epochs: int = 20,
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 32,
    seed: int = 0,
    device: torch.device | str | None = "cpu",
) -> dict[tuple[float, int], History]:
    """Train one network per (L2 weight decay, augmentation shift) and record its curves.

    Every run starts from the same weights and uses SGD with momentum, whose ``weight_decay``
    adds ``weight_decay * w`` to each gradient: the gradient of an L2 penalty
    ``weight_decay / 2 * ||w||^2`` on every parameter. ``shift > 0`` moves each training image
    by up to that many pixels every time it is seen (:func:`random_shift`); validation images are
    never shifted.

    Args:
        build_model: returns a fresh network.
        train: ``(X, y)`` training subset (keep it small to see overfitting).
        val: ``(X, y)`` validation set.
        weight_decays: the L2 coefficients to try.
        shifts: the augmentation strengths to try (0: no augmentation).
        epochs: epochs per run (no early stopping: the curves show the whole run).
        lr, momentum: SGD settings.
        batch_size: training batch size.
        seed: seed of the weights, the batch order and the shifts.
        device: where to train.

    Returns:
        ``(weight_decay, shift) -> History`` for every combination, in the order given.
    """
    X, y = _images_labels("train", train)
    Xv, yv = _images_labels("val", val)
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    lr = _positive_float("lr", lr)
    for wd in weight_decays:
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or wd < 0:
            raise ValueError(f"weight_decays: got {wd!r}, expected numbers >= 0")
    for s in shifts:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"shifts: got {s!r}, expected ints >= 0")
    if not weight_decays or not shifts:
        raise ValueError("weight_decays, shifts: expected at least one value each")
    val_loader = make_loader(Xv, yv, batch_size=512, shuffle=False)
    runs = {}
    for shift in shifts:
        for wd in weight_decays:
            torch.manual_seed(seed)
            model = build_model()
            loader: Iterable = make_loader(X, y, batch_size=batch_size, seed=seed)
            if shift:
                loader = ShiftedLoader(loader, shift, seed=seed)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
            runs[(float(wd), int(shift))] = fit(
                model,
                loader,
                val_loader,
                epochs=epochs,
                optimizer=opt,
                device=device,
                seed=seed,
                progress=False,
            )
    return runs


def _plot_gap(ax: plt.Axes, history: History, upto: int | None = None) -> None:
    n = history.epochs if upto is None else upto
    epochs = np.arange(1, n + 1)
    train, val = np.array(history.train_acc[:n]), np.array(history.val_acc[:n])
    ax.plot(epochs, train, "o-", ms=3, label="training")
    ax.plot(epochs, val, "s-", ms=3, label="validation")
    ax.fill_between(epochs, val, train, where=train >= val, color="C3", alpha=0.15, label="gap")
    ax.set_xlim(0.5, history.epochs + 0.5)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def plot_fit_gap(histories: Mapping[str, History]) -> Figure:
    """Training and validation accuracy of each run in its own panel, the gap shaded.

    Args:
        histories: title -> History, one panel each (left to right).

    Returns:
        a figure with one axis per run, sharing the accuracy axis.
    """
    if not histories:
        raise ValueError("histories: got an empty mapping, expected at least one History")
    for name, h in histories.items():
        if not isinstance(h, History) or h.epochs == 0:
            raise ValueError(f"histories[{name!r}]: expected a training.History with epochs")
    n = len(histories)
    fig, axes = plt.subplots(
        1, n, figsize=(3.3 * n, 3.2), sharey=True, layout="constrained", squeeze=False
    )
    for ax, (name, h) in zip(axes[0], histories.items(), strict=True):
        _plot_gap(ax, h)
        ax.set_title(f"{name}\ntrain {h.train_acc[-1]:.0%}, val {h.val_acc[-1]:.0%}", fontsize=9)
    axes[0, 0].set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    return fig


def regularization_explorer(runs: Mapping[tuple[float, int], History], dpi: int = 70) -> Explorer:
    """An explorer over a :func:`regularization_sweep`: pick the weight decay and the shift.

    Each frame shows that run's training and validation accuracy per epoch (gap shaded) and its
    loss curves; the caption gives the final numbers and names the regime (over-fitting when
    the training accuracy is far above the validation accuracy, under-fitting when both are low).

    Args:
        runs: ``(weight_decay, shift) -> History``, every combination present.
        dpi: resolution of the precomputed frames.

    Returns:
        an :class:`cnnbook.widgets.Explorer`; display it, or call ``to_html()``.
    """
    if not runs:
        raise ValueError("runs: got an empty mapping, expected (weight_decay, shift) -> History")
    wds = sorted({k[0] for k in runs})
    shifts = sorted({k[1] for k in runs})
    missing = [(w, s) for w in wds for s in shifts if (w, s) not in runs]
    if missing:
        raise ValueError(f"runs: missing the combinations {missing}, expected a full grid")
    best_val = max(h.val_acc[-1] for h in runs.values())
    frames: dict[tuple[float, int], Frame] = {}

    def render(weight_decay: float, shift: int) -> Frame:
        key = (float(weight_decay), int(shift))
        if key in frames:
            return frames[key]
        h = runs[key]
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(7.4, 2.8), layout="constrained")
        _plot_gap(ax_acc, h)
        ax_acc.set_ylabel("accuracy")
        ax_acc.legend(fontsize=7, loc="lower right")
        epochs = np.arange(1, h.epochs + 1)
        ax_loss.plot(epochs, h.train_loss, "o-", ms=3, label="training")
        ax_loss.plot(epochs, h.val_loss, "s-", ms=3, label="validation")
        ax_loss.set_yscale("log")
        plain_log_ticks(ax_loss.yaxis)
        ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("loss")
        ax_loss.grid(alpha=0.3, which="both")
        train, val = h.train_acc[-1], h.val_acc[-1]
        gap = train - val
        if gap > 0.15:
            regime = "over-fitting: the network memorises the training subset"
        elif val < best_val - 0.15:
            regime = "under-fitting: the penalty keeps even the training accuracy down"
        else:
            regime = "a reasonable balance"
        aug = f"random shifts of up to {shift} px" if shift else "no augmentation"
        caption = (
            f"weight decay {weight_decay:g}, {aug}: final training accuracy "
            f"<b>{train:.1%}</b>, validation accuracy <b>{val:.1%}</b> (gap {gap:+.1%}); "
            f"{html.escape(regime)}."
        )
        frames[key] = Frame(images=[figure_png(fig, dpi=dpi)], caption=caption)
        return frames[key]

    return Explorer(
        "Regularisation on a tiny training subset",
        {"weight_decay": wds, "shift": shifts},
        render,
        labels={"weight_decay": "L2 weight decay", "shift": "augmentation: max shift (px)"},
    )


# -- a fair learning rate for each optimiser on the valley --
def valley_loss(points: np.ndarray, curvature: float) -> np.ndarray:
    """The valley's loss ``(x^2 + curvature * y^2) / 2`` at each point of a path.

    Args:
        points: visited points, shape ``(T, 2)``, as from :func:`optimizer_paths`.
        curvature: the valley's steepness across (y) relative to along (x).

    Returns:
        the loss at each point, shape ``(T,)`` (``inf`` where a path has overflowed).
    """
    curvature = _positive_float("curvature", curvature)
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points: got shape {points.shape}, expected (T, 2)")
    with np.errstate(over="ignore", invalid="ignore"):
        loss = 0.5 * (points[:, 0] ** 2 + curvature * points[:, 1] ** 2)
    return np.where(np.isfinite(loss), loss, np.inf)


def best_valley_lr(
    name: str,
    grid: Sequence[float],
    steps: int = 60,
    start: tuple[float, float] = (-4.0, 1.5),
    curvature: float = 20.0,
    window: int = 10,
) -> tuple[float, np.ndarray]:
    """The learning rate of ``grid`` that leaves optimiser ``name`` lowest after ``steps`` steps.

    Every optimiser compared on the valley gets the same search (same grid, same number of steps,
    same criterion), so none is handicapped by a badly chosen rate. The criterion is the largest
    loss over the last ``window`` steps: a path that still swings up and down is judged by its
    swings, not by where one swing happens to end. A rate whose path diverges scores ``inf``.

    Args:
        name: an optimiser of :data:`OPTIMIZERS`.
        grid: the learning rates to try (positive).
        steps, start, curvature: as for :func:`optimizer_paths`.
        window: how many of the last steps the criterion looks at (at most ``steps``).

    Returns:
        ``(best_lr, scores)`` where ``scores[i]`` is the criterion for ``grid[i]``.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"name: got {name!r}, expected one of {list(OPTIMIZERS)}")
    if len(grid) == 0:
        raise ValueError("grid: got an empty sequence, expected at least one learning rate")
    steps = _positive_int("steps", steps)
    window = _positive_int("window", window)
    if window > steps:
        raise ValueError(f"window: got {window}, expected at most steps={steps}")
    final = np.array(
        [
            valley_loss(
                optimizer_paths({name: lr}, steps=steps, start=start, curvature=curvature)[name],
                curvature,
            )[-window:].max()
            for lr in grid
        ]
    )
    if not np.isfinite(final).any():
        raise ValueError(f"grid: every rate diverged for {name!r}, expected some smaller rates")
    return float(grid[int(np.argmin(final))]), final


def plot_valley_progress(
    paths: Mapping[str, np.ndarray], curvature: float = 20.0, lrs: Mapping[str, float] | None = None
) -> Figure:
    """The paths over the valley's contours (left) and the loss after every step (right, log).

    Args:
        paths: name -> visited points ``(T, 2)``, as from :func:`optimizer_paths`.
        curvature: the valley's steepness, as for :func:`optimizer_paths`.
        lrs: optional name -> learning rate, written into the legend.

    Returns:
        a figure with two axes.
    """
    if not paths:
        raise ValueError("paths: got an empty mapping, expected at least one path")
    curvature = _positive_float("curvature", curvature)
    fig, (ax_path, ax_loss) = plt.subplots(
        1, 2, figsize=(11, 3.4), layout="constrained", gridspec_kw={"width_ratios": [2, 1]}
    )
    _draw_paths(ax_path, paths, curvature)
    for (name, path), marker in zip(paths.items(), "os^Dv", strict=False):
        label = name if lrs is None else f"{name}, lr {lrs[name]:.3g}"
        loss = valley_loss(path, curvature)
        ax_loss.plot(np.arange(len(loss)), loss, marker=marker, ms=2, lw=1, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize=7)
    return fig


# -- results over several seeds (cnnbook.experiments.regularization) --
def _seed_values(runs: Sequence[Mapping[str, object]], key: str) -> np.ndarray:
    if not runs:
        raise ValueError("runs: got an empty sequence, expected one run per seed")
    try:
        return np.array([float(r[key]) for r in runs])  # type: ignore[arg-type]
    except (KeyError, TypeError) as error:
        raise ValueError(f"runs: expected every run to hold a number {key!r}") from error


def plot_seed_comparison(
    settings: Mapping[str, Sequence[Mapping[str, object]]],
    keys: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Several settings side by side: each seed as a dot, the mean as a bar, min-max as a line.

    Args:
        settings: label -> the runs of that setting (one dict per seed, as from
            :func:`cnnbook.experiments.regularization.train_run`).
        keys: run key -> label of the measured quantity (default: training and validation
            accuracy after the last epoch).
        title: optional title.

    Returns:
        a figure with one axis; accuracies in percent.
    """
    if not settings:
        raise ValueError("settings: got an empty mapping, expected at least one setting")
    keys = dict(keys or {"train_acc": "training accuracy", "val_acc_final": "validation accuracy"})
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(keys.items()):
        for i, runs in enumerate(settings.values()):
            values = 100 * _seed_values(runs, key)
            x = i + (k - (len(keys) - 1) / 2) * width
            ax.bar(
                x,
                values.mean(),
                width * 0.9,
                color=f"C{k}",
                alpha=0.35,
                label=label if i == 0 else None,
            )
            ax.plot([x, x], [values.min(), values.max()], color=f"C{k}", lw=2)
            ax.plot(np.full(len(values), x), values, "o", color=f"C{k}", ms=3)
    ax.set_xticks(range(len(settings)), list(settings))
    ax.set_ylabel("accuracy (%)")
    low = min(100 * _seed_values(r, key).min() for r in settings.values() for key in keys)
    ax.set_ylim(max(0.0, low - 10), 101)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_weight_decay_sweep(
    weight_decays: Sequence[float], runs: Sequence[Sequence[Mapping[str, object]]]
) -> Figure:
    """Accuracy (left) and validation loss (right) against the L2 coefficient, over seeds.

    The coefficient 0 is drawn at the left edge of the logarithmic axis, one step below the
    smallest positive value. Lines join the means; bars span the minimum to the maximum seed.

    Args:
        weight_decays: the coefficients, in increasing order, 0 allowed first.
        runs: for each coefficient, its runs (one dict per seed).

    Returns:
        a figure with two axes.
    """
    wds = [float(w) for w in weight_decays]
    if len(wds) != len(runs) or len(wds) < 2:
        raise ValueError(
            f"runs: got {len(runs)} groups for {len(wds)} weight decays, expected one each (>= 2)"
        )
    if any(b <= a for a, b in zip(wds, wds[1:], strict=False)) or wds[0] < 0:
        raise ValueError(f"weight_decays: got {wds}, expected increasing values >= 0")
    positive = [w for w in wds if w > 0]
    x = np.array([w if w > 0 else positive[0] / 10 for w in wds])
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.3), layout="constrained")

    def draw(ax: plt.Axes, key: str, label: str, color: str, scale: float) -> None:
        values = np.array([scale * _seed_values(r, key) for r in runs])  # (weights, seeds)
        mean = values.mean(axis=1)
        err = np.stack([mean - values.min(axis=1), values.max(axis=1) - mean])
        ax.errorbar(x, mean, yerr=err, fmt="o-", color=color, capsize=3, label=label)

    draw(ax_acc, "train_acc", "training (clean images)", "C0", 100)
    draw(ax_acc, "val_acc_final", "validation", "C1", 100)
    draw(ax_loss, "val_loss_final", "validation loss", "C3", 1)
    labels = ["0" if w == 0 else f"{w:g}" for w in wds]
    for ax in (ax_acc, ax_loss):
        ax.set_xscale("log")
        ax.set_xticks(x, labels)
        ax.minorticks_off()
        ax.set_xlabel("L2 weight decay $\\lambda$")
        ax.grid(alpha=0.3)
    ax_acc.set_ylabel("accuracy after the last epoch (%)")
    ax_acc.legend(fontsize=8)
    ax_loss.set_ylabel("validation loss after the last epoch")
    return fig


def plot_early_stopping(runs: Sequence[Mapping[str, object]], patience: int) -> Figure:
    """Validation loss per epoch of each seed, with the epoch early stopping keeps and stops at.

    Args:
        runs: one dict per seed holding ``val_loss`` (one value per epoch) of a full run.
        patience: the early-stopping patience to mark (``fit``'s rule).

    Returns:
        a figure with one axis: a line per seed, a circle at the best epoch and a cross at the
        epoch where a run with that patience stops.
    """
    from cnnbook.experiments.regularization import early_stop_epochs

    if not runs:
        raise ValueError("runs: got an empty sequence, expected one run per seed")
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    for i, run in enumerate(runs):
        losses = np.asarray(run["val_loss"], dtype=float)
        stop, best = early_stop_epochs(losses, patience)
        epochs = np.arange(1, len(losses) + 1)
        ax.plot(epochs, losses, "-", color=f"C{i}", lw=1.2, label=f"seed {i}")
        ax.plot(best, losses[best - 1], "o", color=f"C{i}", ms=8, mfc="none", mew=2)
        ax.plot(stop, losses[stop - 1], "x", color=f"C{i}", ms=9, mew=2)
    ax.plot([], [], "ko", mfc="none", label="lowest loss (kept)")
    ax.plot([], [], "kx", label=f"stop (patience {patience})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
