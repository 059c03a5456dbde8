"""Experiments and figures of the transfer-learning chapter (chapter 7).

The transfer machinery itself (``freeze``, ``replace_head``, ``param_groups``, the shipped source
network and one cell of the experiment) lives in :mod:`cnnbook.transfer`; this module runs it over
a grid and draws the results:

    transfer_curves        :func:`cnnbook.transfer.transfer_experiment` over labelled-set sizes
                           and seeds: accuracy per strategy, size and seed
    plot_transfer_curves   accuracy vs labelled examples per class, one curve per strategy
    transfer_explorer      the curves as an explorer: pick a labelled-set size
    bn_drift               what happens to a frozen base's batch norm when it is left in train mode
    plot_bn_drift          the drift of the running statistics and the source accuracy it costs
    plot_filter_pairs      first-layer filters side by side (e.g. before and after fine-tuning)
"""

from __future__ import annotations

import copy
import html
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from cnnbook.widgets import Explorer, Frame, figure_png

__all__ = [
    "STRATEGY_LABELS",
    "transfer_curves",
    "plot_transfer_curves",
    "transfer_explorer",
    "bn_drift",
    "plot_bn_drift",
    "plot_filter_pairs",
]

#: How the figures name the strategies of :data:`cnnbook.transfer.STRATEGIES`.
STRATEGY_LABELS: dict[str, str] = {
    "scratch": "from scratch",
    "feature_extraction": "feature extraction (frozen base)",
    "fine_tuning": "fine-tuning (base at a smaller rate)",
}


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: got {value!r}, expected a positive int")
    return int(value)


def _label(strategy: str) -> str:
    return STRATEGY_LABELS.get(strategy, strategy.replace("_", " "))


# -- labelled-set size --
def transfer_curves(
    sizes: Sequence[int], seeds: Sequence[int] = (0,), **kwargs: object
) -> dict[str, np.ndarray]:
    """Run :func:`cnnbook.transfer.transfer_experiment` for every labelled-set size and seed.

    Args:
        sizes: labelled examples per class, e.g. ``(2, 8, 32)``.
        seeds: one run per seed and size (a different labelled subset and initialisation).
        **kwargs: passed on to ``transfer_experiment`` (``strategies``, ``max_steps``, ``lr``,
            ``n_test``, ...).

    Returns:
        strategy -> test accuracies of shape ``(len(sizes), len(seeds))``.
    """
    from cnnbook.transfer import transfer_experiment

    if len(sizes) == 0 or len(seeds) == 0:
        raise ValueError(f"sizes, seeds: got {list(sizes)!r} and {list(seeds)!r}, expected values")
    sizes = [_positive_int("sizes", s) for s in sizes]
    results: dict[str, np.ndarray] = {}
    for i, size in enumerate(sizes):
        for j, seed in enumerate(seeds):
            accuracies = transfer_experiment(size, seed=seed, **kwargs)
            for strategy, acc in accuracies.items():
                results.setdefault(strategy, np.full((len(sizes), len(seeds)), np.nan))
                results[strategy][i, j] = acc
    return results


def _check_curves(sizes: Sequence[int], results: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if len(sizes) == 0:
        raise ValueError("sizes: got an empty sequence, expected labelled-set sizes")
    if not results:
        raise ValueError("results: got an empty mapping, expected strategy -> accuracies")
    out = {}
    for name, acc in results.items():
        acc = np.asarray(acc, dtype=float)
        acc = acc[:, None] if acc.ndim == 1 else acc
        if acc.ndim != 2 or acc.shape[0] != len(sizes):
            raise ValueError(
                f"results[{name!r}]: got shape {acc.shape}, expected ({len(sizes)},) or "
                f"({len(sizes)}, seeds): one row per size"
            )
        out[name] = acc
    return out


def _draw_curves(
    ax: plt.Axes, sizes: Sequence[int], results: Mapping[str, np.ndarray], chance: float | None
) -> None:
    for (name, acc), marker in zip(results.items(), "os^Dv", strict=False):
        mean = np.nanmean(acc, axis=1)
        ax.plot(sizes, mean, marker=marker, lw=1.6, label=_label(name))
        if acc.shape[1] > 1:
            ax.fill_between(sizes, np.nanmin(acc, axis=1), np.nanmax(acc, axis=1), alpha=0.15)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("labelled examples per class (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)


def plot_transfer_curves(
    sizes: Sequence[int],
    results: Mapping[str, np.ndarray],
    chance: float | None = 0.1,
    title: str | None = None,
) -> Figure:
    """Test accuracy against labelled examples per class, one curve per strategy.

    Args:
        sizes: labelled examples per class (the x values).
        results: strategy -> accuracies ``(len(sizes),)`` or ``(len(sizes), seeds)``; with several
            seeds the line is the mean and the band spans the lowest to the highest run.
        chance: accuracy of guessing, drawn as a dotted line (``None``: not drawn).
        title: optional title.

    Returns:
        a figure with one axis (log-scaled x).
    """
    results = _check_curves(sizes, results)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    _draw_curves(ax, sizes, results, chance)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return fig


def transfer_explorer(
    sizes: Sequence[int],
    results: Mapping[str, np.ndarray],
    chance: float | None = 0.1,
    dpi: int = 70,
) -> Explorer:
    """An explorer over the labelled-set size: the curves with the chosen size marked, and a bar
    chart of the strategies' accuracies at that size; the caption names the best strategy.

    Args:
        sizes, results, chance: as in :func:`plot_transfer_curves`.
        dpi: resolution of the precomputed frames.

    Returns:
        an :class:`cnnbook.widgets.Explorer` with one slider (labelled examples per class).
    """
    results = _check_curves(sizes, results)
    sizes = [int(s) for s in sizes]
    frames: dict[int, Frame] = {}

    def render(n_per_class: int) -> Frame:
        if n_per_class in frames:
            return frames[n_per_class]
        i = sizes.index(int(n_per_class))
        fig, (ax_curve, ax_bar) = plt.subplots(
            1, 2, figsize=(8.4, 3.0), layout="constrained", width_ratios=[1.6, 1]
        )
        _draw_curves(ax_curve, sizes, results, chance)
        ax_curve.axvline(n_per_class, color="k", lw=1)
        ax_curve.legend(fontsize=7, loc="lower right")
        means = {name: float(np.nanmean(acc[i])) for name, acc in results.items()}
        colours = [f"C{k}" for k in range(len(means))]
        ax_bar.bar(range(len(means)), list(means.values()), color=colours)
        ax_bar.set_xticks(
            range(len(means)), [_label(n).split(" (")[0] for n in means], fontsize=8, rotation=15
        )
        for k, v in enumerate(means.values()):
            ax_bar.text(k, v + 0.02, f"{v:.0%}", ha="center", fontsize=8)
        ax_bar.set_ylim(0, 1.1)
        ax_bar.set_title(f"{n_per_class} per class ({10 * n_per_class} labels)", fontsize=9)
        best = max(means, key=means.get)
        parts = ", ".join(
            f"{html.escape(_label(n))} <b>{v:.1%}</b>"
            + (
                f" ({np.nanmin(results[n][i]):.1%} to {np.nanmax(results[n][i]):.1%})"
                if results[n].shape[1] > 1
                else ""
            )
            for n, v in means.items()
        )
        # a strategy is only called the best if its worst run beats every run of the others
        overlapping = [
            _label(n)
            for n in means
            if n != best and np.nanmax(results[n][i]) >= np.nanmin(results[best][i])
        ]
        if overlapping:
            verdict = (
                f"Highest mean here: <b>{html.escape(_label(best))}</b>, but its runs overlap "
                f"those of {html.escape(', '.join(overlapping))}: the seeds do not separate them."
            )
        else:
            verdict = f"Best here: <b>{html.escape(_label(best))}</b>."
        caption = f"With {n_per_class} labelled examples per class: {parts}. {verdict}"
        frames[n_per_class] = Frame(images=[figure_png(fig, dpi=dpi)], caption=caption)
        return frames[n_per_class]

    return Explorer(
        "Transfer learning: how many labels do you have?",
        {"n_per_class": sizes},
        render,
        labels={"n_per_class": "labelled examples per class"},
        initial={"n_per_class": sizes[len(sizes) // 2]},
    )


# -- batch norm in a frozen base --
def _bn_layers(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _BatchNorm)]


def bn_drift(
    model: nn.Module,
    target_X: torch.Tensor,
    source: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int = 40,
    batch_size: int = 32,
    eval_every: int = 5,
    seed: int = 0,
) -> dict[str, object]:
    """Feed target-task batches through a "frozen" base in two ways and watch its batch norm.

    Two copies of ``model`` see the same target batches in training mode, as they would while a
    new head is trained on top:

    - ``"left in train mode"``: every parameter has ``requires_grad=False`` (what many people
      call frozen), but ``model.train()`` still puts its batch-norm layers in training mode, so
      each forward pass normalises with the batch's statistics and moves the running estimates
      towards the target data;
    - ``"frozen with cnnbook.transfer.freeze"``: batch norm stays in eval mode.

    No weight changes in either copy (no optimiser runs at all: the forward passes alone move the
    running estimates). Every ``eval_every`` steps the copies are scored on the *source* task with
    their original head, in eval mode, i.e. with whatever running estimates they now hold.

    Args:
        model: a trained network containing batch-norm layers (e.g.
            :func:`cnnbook.transfer.load_pretrained`); it is copied, never changed.
        target_X: target-task images ``(N, C, H, W)`` (labels are not needed).
        source: ``(X, y)`` source-task test examples for the accuracy.
        steps: number of target batches fed through.
        batch_size: target images per batch.
        eval_every: steps between measurements.
        seed: seed of the batch order.

    Returns:
        ``{"steps": (M,), "layers": [names], "drift": {mode: (M, L)}, "source_acc": {mode: (M,)}}``
        where ``drift`` is the relative change ``||mu_t - mu_0|| / ||mu_0||`` of each batch-norm
        layer's running mean (``L`` layers) and ``M`` counts the measurements, step 0 included.
    """
    from cnnbook.training import evaluate
    from cnnbook.transfer import freeze

    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}, expected a torch.nn.Module")
    if not _bn_layers(model):
        raise ValueError("model: has no batch-norm layer, expected a network with BatchNorm")
    if not isinstance(target_X, torch.Tensor) or target_X.dim() != 4:
        raise ValueError(
            f"target_X: got {getattr(target_X, 'shape', type(target_X).__name__)}, "
            "expected images (N, C, H, W)"
        )
    if not isinstance(source, (tuple, list)) or len(source) != 2:
        raise ValueError(f"source: got {type(source).__name__}, expected a pair (X, y)")
    X_src, y_src = source
    steps = _positive_int("steps", steps)
    batch_size = _positive_int("batch_size", batch_size)
    eval_every = _positive_int("eval_every", eval_every)
    if batch_size > len(target_X):
        raise ValueError(
            f"batch_size: got {batch_size}, expected at most len(target_X) = {len(target_X)}"
        )

    device = next(model.parameters()).device
    source_batches = list(zip(X_src.split(500), y_src.split(500), strict=True))
    copies = {
        "left in train mode": copy.deepcopy(model),
        "frozen with freeze()": copy.deepcopy(model),
    }
    for p in copies["left in train mode"].parameters():
        p.requires_grad_(False)
    freeze(copies["frozen with freeze()"])
    layers = [name for name, _ in _bn_layers(model)]
    start = [m.running_mean.detach().clone() for _, m in _bn_layers(model)]
    marks = [0, *range(eval_every, steps + 1, eval_every)]
    result: dict[str, object] = {
        "steps": np.array(marks),
        "layers": layers,
        "drift": {},
        "source_acc": {},
    }
    for mode, net in copies.items():
        generator = torch.Generator().manual_seed(seed)
        drift, acc = [], []

        def measure(net: nn.Module = net, drift: list = drift, acc: list = acc) -> None:
            drift.append(
                [
                    float((m.running_mean - m0).norm() / m0.norm().clamp_min(1e-12))
                    for (_, m), m0 in zip(_bn_layers(net), start, strict=True)
                ]
            )
            acc.append(evaluate(net, source_batches, device))

        measure()
        for step in range(1, steps + 1):
            net.train()  # what a training loop does before every epoch
            idx = torch.randint(0, len(target_X), (batch_size,), generator=generator)
            with torch.no_grad():
                net(target_X[idx].to(device))
            if step in marks:
                measure()
        result["drift"][mode] = np.array(drift)
        result["source_acc"][mode] = np.array(acc)
    return result


def plot_bn_drift(result: Mapping[str, object]) -> Figure:
    """Left: relative drift of each batch-norm layer's running mean; right: source accuracy.

    Args:
        result: the dict returned by :func:`bn_drift`.

    Returns:
        a figure with two axes; solid lines for the base left in train mode, dashed for the base
        frozen with ``freeze``.
    """
    for key in ("steps", "layers", "drift", "source_acc"):
        if key not in result:
            raise ValueError(f"result: missing {key!r}, expected the dict returned by bn_drift")
    steps = np.asarray(result["steps"])
    fig, (ax_d, ax_a) = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
    for (mode, drift), style in zip(result["drift"].items(), ["-", "--"], strict=False):
        for k, layer in enumerate(result["layers"]):
            ax_d.plot(
                steps,
                drift[:, k],
                ls=style,
                color=f"C{k}",
                marker="o",
                ms=3,
                label=f"batch norm {layer}, {mode}",
            )
    ax_d.set_xlabel("target batches seen")
    ax_d.set_ylabel("relative change of running mean")
    ax_d.legend(fontsize=7)
    ax_d.grid(alpha=0.3)
    lowest = 1.0
    for (mode, acc), style in zip(result["source_acc"].items(), ["-", "--"], strict=False):
        ax_a.plot(steps, acc, ls=style, marker="o", ms=3, color="k", label=mode)
        lowest = min(lowest, float(np.min(acc)))
    # zoom in on the accuracies: a change of half a point is invisible on a 0..1 axis
    ax_a.set_ylim(max(0.0, lowest - 0.05), 1.005)
    ax_a.set_xlabel("target batches seen")
    ax_a.set_ylabel("source-task test accuracy")
    ax_a.legend(fontsize=8)
    ax_a.grid(alpha=0.3)
    return fig


def plot_filter_pairs(
    filters: Mapping[str, nn.Module | torch.Tensor], max_filters: int = 16
) -> Figure:
    """First-layer kernels of several networks, one row each, on one shared colour scale.

    Args:
        filters: row title -> an ``nn.Conv2d``, a network (its first ``nn.Conv2d`` is used), or a
            weight tensor ``(C_out, C_in, k, k)``. Input channels are averaged.
        max_filters: kernels shown per row.

    Returns:
        a figure with ``len(filters)`` rows of ``max_filters`` small images.
    """
    if not filters:
        raise ValueError("filters: got an empty mapping, expected title -> layer or weights")
    max_filters = _positive_int("max_filters", max_filters)
    kernels = {}
    for name, item in filters.items():
        if isinstance(item, nn.Module) and not isinstance(item, nn.Conv2d):
            convs = [m for m in item.modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise ValueError(f"filters[{name!r}]: has no nn.Conv2d, expected a CNN")
            item = convs[0]
        w = item.weight if isinstance(item, nn.Conv2d) else item
        if not isinstance(w, torch.Tensor) or w.dim() != 4:
            raise ValueError(f"filters[{name!r}]: got {type(item).__name__}, expected conv weights")
        kernels[name] = w.detach().float().cpu().mean(dim=1)[:max_filters].numpy()
    cols = max(len(k) for k in kernels.values())
    vmax = max(float(np.abs(k).max()) for k in kernels.values()) or 1.0
    fig, axes = plt.subplots(
        len(kernels), cols, figsize=(cols * 0.6, len(kernels) * 0.85), squeeze=False
    )
    for row, (name, ks) in zip(axes, kernels.items(), strict=True):
        for ax in row:
            ax.set_axis_off()
        for ax, kernel in zip(row, ks, strict=False):
            ax.imshow(kernel, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        row[0].set_title(name, fontsize=8, loc="left")
    return fig
