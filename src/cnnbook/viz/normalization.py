"""Figures and small experiments of the batch-normalisation chapter (chapter 5).

The experiments use ``torch.nn.BatchNorm2d`` (the oracle of the book); the chapter checks the book's
own NumPy layer (``cnnbook.numpy_ref``) against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from cnnbook.widgets import Explorer, Frame, figure_png

__all__ = [
    "running_stats_trace",
    "dropout_bn_eval_std",
    "plot_running_stats",
    "plot_learning_curves",
    "plot_train_vs_eval",
    "plot_bn_distributions",
    "plot_gamma_beta_undo",
    "plot_probe_metrics",
    "running_stats_explorer",
]


_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _check_nchw(x: object, name: str = "x") -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor or array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected floating point values, got dtype {x.dtype}")
    return x


def running_stats_trace(
    x: torch.Tensor | np.ndarray,
    batch_size: int = 32,
    momentum: float = 0.1,
    steps: int = 100,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Feed random mini-batches of ``x`` to a fresh ``nn.BatchNorm2d`` in training mode and record
    its running estimates after every step.

    PyTorch updates ``running = (1 - momentum) * running + momentum * batch_statistic`` with the
    batch mean and the *unbiased* batch variance, starting from mean 0 and variance 1.

    Args:
        x: the population of activations that the batches are drawn from (without replacement
            within a batch).
        batch_size: examples per batch (at least 2, the unbiased variance needs two).
        momentum: PyTorch's momentum, in (0, 1].
        steps: number of training-mode forward passes.
        seed: seeds the batch sampling.

    Returns:
        ``{"mean": (steps + 1, C), "var": (steps + 1, C), "true_mean": (C,), "true_var": (C,)}``;
        row 0 holds the initial estimates, the true values are over all of ``x`` (biased variance).

    Shape:
        ``x``: ``(M, C, H, W)`` with ``M >= batch_size``.
    """
    x = _check_nchw(x)
    batch_size = _check_positive_int(batch_size, "batch_size")
    steps = _check_positive_int(steps, "steps")
    if batch_size < 2 or batch_size > x.shape[0]:
        raise ValueError(f"batch_size: expected 2 <= batch_size <= {x.shape[0]}, got {batch_size}")
    if isinstance(momentum, bool) or not 0.0 < float(momentum) <= 1.0:
        raise ValueError(f"momentum: expected a number in (0, 1], got {momentum!r}")
    bn = nn.BatchNorm2d(x.shape[1], momentum=float(momentum)).to(x.dtype).train()
    gen = torch.Generator().manual_seed(int(seed))
    means = [bn.running_mean.clone()]
    variances = [bn.running_var.clone()]
    with torch.no_grad():
        for _ in range(steps):
            idx = torch.randperm(x.shape[0], generator=gen)[:batch_size]
            bn(x[idx])
            means.append(bn.running_mean.clone())
            variances.append(bn.running_var.clone())
    return {
        "mean": torch.stack(means).double().numpy(),
        "var": torch.stack(variances).double().numpy(),
        "true_mean": x.double().mean(dim=(0, 2, 3)).numpy(),
        "true_var": x.double().var(dim=(0, 2, 3), unbiased=False).numpy(),
    }


def dropout_bn_eval_std(
    x: torch.Tensor | np.ndarray,
    p: float = 0.5,
    dropout_first: bool = True,
    steps: int = 200,
    batch_size: int = 64,
    seed: int = 0,
) -> float:
    """Standard deviation of a BatchNorm2d's eval-mode output after training its running statistics
    with dropout before it (``dropout_first``) or after it.

    Dropout scales the kept activations by ``1 / (1 - p)`` during training, which raises their
    variance; at evaluation dropout is off. When dropout comes first, the running variance is
    learned from the noisier training activations and no longer matches what the layer sees at
    evaluation, so its outputs shrink (their standard deviation drops below 1). When dropout
    comes after BN, BN's statistics are learned on the same distribution it sees at evaluation.

    Args:
        x: the activations (a population to sample batches from).
        p: dropout probability in [0, 1).
        dropout_first: ``True`` for Dropout -> BN, ``False`` for BN -> Dropout.
        steps: training-mode batches used to learn the running statistics.
        batch_size: examples per batch.
        seed: seeds the batches and the dropout masks.

    Returns:
        The standard deviation of the eval-mode output of the BN layer on all of ``x`` (averaged
        over channels). About 1 when the statistics match.

    Shape:
        ``x``: ``(M, C, H, W)``.
    """
    x = _check_nchw(x)
    if isinstance(p, bool) or not 0.0 <= float(p) < 1.0:
        raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
    steps = _check_positive_int(steps, "steps")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if batch_size < 2 or batch_size > x.shape[0]:
        raise ValueError(f"batch_size: expected 2 <= batch_size <= {x.shape[0]}, got {batch_size}")
    drop = nn.Dropout(float(p))
    bn = nn.BatchNorm2d(x.shape[1]).to(x.dtype)
    layers = nn.Sequential(drop, bn) if dropout_first else nn.Sequential(bn, drop)
    gen = torch.Generator().manual_seed(int(seed))
    layers.train()
    # Dropout draws from the global generator: seed it here without disturbing the caller's stream.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(seed))
        for _ in range(steps):
            layers(x[torch.randperm(x.shape[0], generator=gen)[:batch_size]])
        layers.eval()
        out = bn(x)  # what BN emits at evaluation, dropout (a no-op in eval) aside
    return float(out.double().std(dim=(0, 2, 3)).mean())


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def plot_running_stats(traces: Mapping[str, Mapping[str, np.ndarray]], channel: int = 0) -> Figure:
    """Running mean and running variance of one channel against the step, one line per trace,
    with the population's true values as dashed lines.

    Args:
        traces: ``{label: running_stats_trace(...)}``.
        channel: which channel to draw.

    Returns:
        The figure (two panels: mean, variance).
    """
    if not traces:
        raise ValueError("traces: expected at least one trace, got an empty mapping")
    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(8.0, 2.8))
    for label, tr in traces.items():
        c = tr["mean"].shape[1]
        if not 0 <= channel < c:
            raise ValueError(f"channel: expected 0 <= channel < {c}, got {channel}")
        ax_m.plot(tr["mean"][:, channel], label=label)
        ax_v.plot(tr["var"][:, channel], label=label)
    first = next(iter(traces.values()))
    ax_m.axhline(first["true_mean"][channel], ls="--", c="k", lw=1, label="population")
    ax_v.axhline(first["true_var"][channel], ls="--", c="k", lw=1, label="population")
    ax_m.set_title(f"running mean, channel {channel}", fontsize=10)
    ax_v.set_title(f"running variance, channel {channel}", fontsize=10)
    for ax in (ax_m, ax_v):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    ax_v.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(histories: Mapping[str, object]) -> Figure:
    """Training loss and validation accuracy per epoch, one line per network.

    Args:
        histories: ``{label: History}`` (anything with ``train_loss`` and ``val_acc`` lists), or
            ``{label: [History, ...]}`` for runs with several seeds: the line is then the mean
            over the seeds and the shaded band spans their minimum to maximum.

    Returns:
        The figure (two panels side by side).
    """
    if not histories:
        raise ValueError("histories: expected at least one run, got an empty mapping")
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9.0, 3.3))
    for label, h in histories.items():
        runs = list(h) if isinstance(h, (list, tuple)) else [h]
        if not runs or not all(hasattr(r, "train_loss") and hasattr(r, "val_acc") for r in runs):
            raise ValueError(f"histories[{label!r}]: expected a History with train_loss, val_acc")
        if len({len(r.train_loss) for r in runs}) != 1:
            raise ValueError(f"histories[{label!r}]: the runs have different numbers of epochs")
        epochs = np.arange(1, len(runs[0].train_loss) + 1)
        for ax, key in ((ax_l, "train_loss"), (ax_a, "val_acc")):
            values = np.array([getattr(r, key) for r in runs], dtype=float)
            (line,) = ax.plot(epochs, values.mean(axis=0), marker="o", label=label)
            if len(runs) > 1:
                ax.fill_between(
                    epochs,
                    values.min(axis=0),
                    values.max(axis=0),
                    color=line.get_color(),
                    alpha=0.2,
                )
    ax_l.set_title("training loss", fontsize=10)
    ax_a.set_title("validation accuracy", fontsize=10)
    ax_l.set_yscale("log")
    ax_a.set_ylim(0, 1)
    for ax in (ax_l, ax_a):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_probe_metrics(
    steps: Sequence[int], metrics: Mapping[str, Mapping[str, np.ndarray]]
) -> Figure:
    """Landscape measurements along training, one panel per metric, one line per network.

    Args:
        steps: the training steps at which the probes were taken, length ``P``.
        metrics: ``{panel title: {label: array (seeds, P)}}``; the line is the mean over seeds,
            the band spans their minimum to maximum.

    Returns:
        The figure (log-scaled y axes).
    """
    if not metrics:
        raise ValueError("metrics: expected at least one panel, got an empty mapping")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.2), squeeze=False)
    for ax, (title, curves) in zip(axes[0], metrics.items(), strict=True):
        for label, values in curves.items():
            values = np.asarray(values, dtype=float)
            if values.ndim != 2 or values.shape[1] != len(steps):
                raise ValueError(
                    f"metrics[{title!r}][{label!r}]: expected shape (seeds, {len(steps)}), "
                    f"got {values.shape}"
                )
            (line,) = ax.plot(steps, values.mean(axis=0), label=label)
            ax.fill_between(
                steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2
            )
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_train_vs_eval(out_train: np.ndarray, out_eval: np.ndarray) -> Figure:
    """The same batch through the same network in training and in evaluation mode: a scatter of
    one output against the other (points off the diagonal differ).

    Args:
        out_train: outputs in training mode.
        out_eval: outputs in evaluation mode, the same shape.

    Returns:
        The figure.
    """
    a = np.asarray(out_train, dtype=np.float64).ravel()
    b = np.asarray(out_eval, dtype=np.float64).ravel()
    if np.shape(out_train) != np.shape(out_eval):
        raise ValueError(
            f"out_eval: expected the shape of out_train {np.shape(out_train)}, "
            f"got {np.shape(out_eval)}"
        )
    fig, ax = plt.subplots(figsize=(4.0, 3.8))
    ax.scatter(a, b, s=6, alpha=0.5)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="equal")
    ax.set_xlabel("output in model.train()")
    ax.set_ylabel("output in model.eval()")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bn_distributions(
    before: np.ndarray, after: np.ndarray, channels: Sequence[int] = (0, 1, 2), bins: int = 40
) -> Figure:
    """Histograms of a few channels before and after batch normalisation.

    Args:
        before: activations entering the BN layer.
        after: its outputs.
        channels: which channels to draw.
        bins: histogram bins.

    Returns:
        The figure (two panels: before, after).

    Shape:
        ``before`` and ``after``: ``(N, C, H, W)``.
    """
    before = _check_nchw(before, "before").double().numpy()
    after = _check_nchw(after, "after").double().numpy()
    if before.shape != after.shape:
        raise ValueError(f"after: expected shape {before.shape}, got {after.shape}")
    for c in channels:
        if not 0 <= c < before.shape[1]:
            raise ValueError(f"channels: {c} is not in [0, {before.shape[1]})")
    fig, (ax_b, ax_a) = plt.subplots(1, 2, figsize=(9.0, 3.1))
    for c in channels:
        ax_b.hist(before[:, c].ravel(), bins=bins, histtype="step", lw=1.5, label=f"channel {c}")
        ax_a.hist(after[:, c].ravel(), bins=bins, histtype="step", lw=1.5, label=f"channel {c}")
    ax_b.set_title("before batch norm", fontsize=10)
    ax_a.set_title("after batch norm (gamma = 1, beta = 0)", fontsize=10)
    for ax in (ax_b, ax_a):
        ax.set_xlabel("activation")
        ax.grid(alpha=0.3)
    ax_a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gamma_beta_undo(
    x: np.ndarray, normalised: np.ndarray, restored: np.ndarray, bins: int = 40
) -> Figure:
    """One channel: the input, its normalised version, and the output of gamma/beta chosen to undo
    the normalisation (drawn over the input, they coincide).

    Args:
        x: the channel's input values.
        normalised: after normalisation.
        restored: after scaling by gamma and shifting by beta.
        bins: histogram bins.

    Returns:
        The figure.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    normalised = np.asarray(normalised, dtype=np.float64).ravel()
    restored = np.asarray(restored, dtype=np.float64).ravel()
    if not x.size == normalised.size == restored.size:
        raise ValueError(
            f"normalised, restored: expected {x.size} values each like x, "
            f"got {normalised.size} and {restored.size}"
        )
    lo = min(x.min(), normalised.min())
    hi = max(x.max(), normalised.max())
    edges = np.linspace(lo, hi, bins + 1)
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.hist(x, bins=edges, alpha=0.45, label="input x")
    ax.hist(normalised, bins=edges, alpha=0.45, label="normalised x_hat")
    ax.hist(restored, bins=edges, histtype="step", lw=2, color="k", label="gamma * x_hat + beta")
    ax.set_xlabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def running_stats_explorer(
    x: torch.Tensor | np.ndarray,
    batch_sizes: Sequence[int] = (4, 16, 128),
    momentums: Sequence[float] = (0.01, 0.1, 0.3, 0.9),
    steps: int = 150,
    channel: int = 0,
    seed: int = 0,
) -> Explorer:
    """An explorer of batch size and momentum against BatchNorm2d's running statistics.

    Each frame is :func:`plot_running_stats` of one run of :func:`running_stats_trace`; the caption
    gives how far the final estimates are from the population values and how much they still jitter
    over the last third of the run. Works in a live kernel and, precomputed, on the website.

    Args:
        x: the population of activations.
        batch_sizes: batch sizes offered (each at least 2 and at most ``len(x)``).
        momentums: momentums offered, in (0, 1].
        steps: training steps per run.
        channel: the channel drawn.
        seed: seeds the batch sampling (the same for every frame).

    Returns:
        A :class:`cnnbook.widgets.Explorer`.

    Shape:
        ``x``: ``(M, C, H, W)``.
    """
    x = _check_nchw(x)
    if not 0 <= channel < x.shape[1]:
        raise ValueError(f"channel: expected 0 <= channel < {x.shape[1]}, got {channel}")
    for b in batch_sizes:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 2 <= b <= x.shape[0]:
            raise ValueError(f"batch_sizes: expected ints in [2, {x.shape[0]}], got {b!r}")
    for m in momentums:
        if not 0.0 < float(m) <= 1.0:
            raise ValueError(f"momentums: expected numbers in (0, 1], got {m!r}")

    def render(batch_size: int, momentum: float) -> Frame:
        tr = running_stats_trace(x, batch_size, momentum, steps, seed)
        fig = plot_running_stats({f"batch {batch_size}, momentum {momentum}": tr}, channel)
        tail = tr["var"][-max(steps // 3, 2) :, channel]
        mean_err = abs(tr["mean"][-1, channel] - tr["true_mean"][channel])
        var_err = abs(tr["var"][-1, channel] / tr["true_var"][channel] - 1.0)
        caption = (
            f"after {steps} steps: running mean off by {mean_err:.3g}, running variance off by "
            f"{100 * var_err:.1f}%; jitter of the variance over the last third: "
            f"&plusmn;{100 * tail.std() / tr['true_var'][channel]:.1f}% of the population value"
        )
        return Frame(images=[figure_png(fig)], caption=caption)

    return Explorer(
        "Running statistics of batch norm: batch size and momentum",
        {"batch_size": [int(b) for b in batch_sizes], "momentum": [float(m) for m in momentums]},
        render,
        initial={"batch_size": 16, "momentum": 0.1}
        if 16 in batch_sizes and 0.1 in momentums
        else None,
    )
