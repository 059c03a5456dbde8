"""Diagnostics of a trained network, each returned as a matplotlib ``Figure``.

    plot_history          loss and accuracy per epoch (training and validation)
    plot_confusion_matrix counts of true class vs predicted class
    plot_filters          the kernels of one convolution as a grid of small images
    plot_feature_maps     what each convolution outputs for one image (via forward hooks)
    plot_confident_mistakes  the wrongly classified examples the network was surest about

The functions never call ``plt.show()``: a notebook displays the returned figure, a script saves it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from cnnbook.training import History

__all__ = [
    "plot_history",
    "confusion_matrix",
    "plot_confusion_matrix",
    "plot_filters",
    "feature_maps",
    "plot_feature_maps",
    "confident_mistakes",
    "plot_confident_mistakes",
]


def _as_numpy(a: object, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, (np.ndarray, list, tuple)):
        return np.asarray(a)
    raise ValueError(f"{name}: got {type(a).__name__}, expected a tensor, an array or a list")


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def plot_history(history: History, title: str | None = None) -> Figure:
    """Learning curves: loss (left) and accuracy (right) per epoch, training and validation.

    Args:
        history: the :class:`cnnbook.training.History` returned by ``fit``.
        title: optional title of the figure.

    Returns:
        a figure with two axes; the best epoch is marked with a dotted vertical line.
    """
    if not isinstance(history, History):
        raise ValueError(f"history: got {type(history).__name__}, expected a training.History")
    if history.epochs == 0:
        raise ValueError("history: got a History with no epoch, expected at least one")
    epochs = np.arange(1, history.epochs + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    has_val = not all(math.isnan(v) for v in history.val_loss)
    for ax, train, val, label in (
        (ax_loss, history.train_loss, history.val_loss, "loss"),
        (ax_acc, history.train_acc, history.val_acc, "accuracy"),
    ):
        ax.plot(epochs, train, "o-", label="training")
        if has_val:
            ax.plot(epochs, val, "s-", label="validation")
        if history.best_epoch is not None:
            ax.axvline(history.best_epoch + 1, color="grey", ls=":", label="best epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(y_true: object, y_pred: object, num_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    Shape:
        ``y_true`` and ``y_pred`` are ``(N,)`` integer labels; the result is ``(K, K)`` with
        ``K = num_classes`` (default: one more than the largest label seen).
    """
    t = _as_numpy(y_true, "y_true").astype(np.int64).ravel()
    p = _as_numpy(y_pred, "y_pred").astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_pred: got {p.shape[0]} labels, expected {t.shape[0]} like y_true")
    if t.size and min(t.min(), p.min()) < 0:
        raise ValueError("y_true/y_pred: got a negative label, expected labels >= 0")
    k = int(max(t.max(initial=-1), p.max(initial=-1)) + 1) if num_classes is None else num_classes
    if t.size and max(t.max(), p.max()) >= k:
        raise ValueError(f"num_classes: got {k}, expected more than the largest label")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(
    y_true: object,
    y_pred: object,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
) -> Figure:
    """The confusion matrix as an annotated image (rows: true class, columns: predicted).

    Args:
        y_true, y_pred: integer labels, shape ``(N,)``.
        class_names: names for the ticks (default ``0 .. K-1``).
        normalize: show each row as fractions of that class's examples instead of counts.

    Returns:
        a figure with one image axis and its colour bar.
    """
    k = None if class_names is None else len(class_names)
    cm = confusion_matrix(y_true, y_pred, k)
    k = cm.shape[0]
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2), layout="constrained")
    im = ax.imshow(values, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 20:
        threshold = values.max() / 2 if values.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else str(cm[i, j])
                colour = "white" if values[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    return fig


def _conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def plot_filters(layer: nn.Module, max_filters: int = 64, channel: int | None = None) -> Figure:
    """The kernels of a convolution, one small image per output channel.

    Args:
        layer: an ``nn.Conv2d``, or a model whose first ``nn.Conv2d`` is shown.
        max_filters: show at most this many output channels.
        channel: input channel to show; default: channel 0 for one-channel input, else the mean
            over input channels.

    Returns:
        a figure with one axis per shown filter, each holding one image; every image shares one
        symmetric colour scale (red positive, blue negative).
    """
    if isinstance(layer, nn.Module) and not isinstance(layer, nn.Conv2d):
        convs = _conv_layers(layer)
        if not convs:
            raise ValueError("layer: got a module without nn.Conv2d, expected a convolution")
        layer = convs[0][1]
    if not isinstance(layer, nn.Conv2d):
        raise ValueError(f"layer: got {type(layer).__name__}, expected an nn.Conv2d")
    w = layer.weight.detach().float().cpu()
    if channel is not None and not 0 <= channel < w.shape[1]:
        raise ValueError(f"channel: got {channel!r}, expected an int in [0, {w.shape[1]})")
    kernels = w[:, channel] if channel is not None else w.mean(dim=1)
    kernels = kernels[:max_filters].numpy()
    rows, cols = _grid(len(kernels), 8)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    vmax = float(np.abs(kernels).max()) or 1.0
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, kernel in zip(axes.flat, kernels, strict=False):
        ax.imshow(kernel, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    for ax in axes.flat[len(kernels) :]:
        fig.delaxes(ax)
    fig.suptitle(f"{len(kernels)} filters of {w.shape[2]}x{w.shape[3]}")
    return fig


def feature_maps(model: nn.Module, image: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Outputs of every ``nn.Conv2d`` of ``model`` for one image, captured by forward hooks.

    Args:
        model: the network (run in eval mode, without gradients; its mode is restored).
        image: one image ``(C, H, W)`` or a batch of one ``(1, C, H, W)``.

    Returns:
        ``[(layer name, maps)]`` in forward order, ``maps`` of shape ``(C_out, H_out, W_out)``.
    """
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        raise ValueError(
            f"image: got {getattr(image, 'shape', type(image).__name__)}, expected a tensor "
            "(C, H, W) or (1, C, H, W)"
        )
    if image.dim() == 4 and image.shape[0] != 1:
        raise ValueError(f"image: got a batch of {image.shape[0]}, expected one image")
    convs = _conv_layers(model)
    if not convs:
        raise ValueError("model: got a module without nn.Conv2d, expected a CNN")
    captured: list[tuple[str, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out, name=name: captured.append((name, out[0].detach().cpu()))
        )
        for name, m in convs
    ]
    first = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = image if image.dim() == 4 else image[None]
            model(x.to(first.device, first.dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return captured


def plot_feature_maps(model: nn.Module, image: torch.Tensor, max_maps: int = 16) -> Figure:
    """The input image and, below it, the feature maps of each convolution of ``model``.

    Args:
        model: a CNN.
        image: one image ``(C, H, W)`` or ``(1, C, H, W)``.
        max_maps: show at most this many channels per layer.

    Returns:
        a figure with one row for the input (one image) and one row per convolution, each with
        ``min(max_maps, channels)`` images (empty grid cells are removed).
    """
    maps = feature_maps(model, image)
    cols = max(min(max_maps, m.shape[0]) for _, m in maps)
    fig, axes = plt.subplots(
        len(maps) + 1, cols, figsize=(cols * 0.9, (len(maps) + 1) * 1.05), squeeze=False
    )
    img = image.detach().cpu().reshape(-1, *image.shape[-2:])
    axes[0, 0].imshow(img.float().mean(dim=0).numpy(), cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for ax in axes[0, 1:]:
        fig.delaxes(ax)
    for row, (name, m) in enumerate(maps, start=1):
        shown = min(max_maps, m.shape[0])
        for c in range(cols):
            ax = axes[row, c]
            if c >= shown:
                fig.delaxes(ax)
                continue
            ax.imshow(m[c].float().numpy(), cmap="viridis")
            ax.set_axis_off()
        axes[row, 0].set_title(
            f"{name}: {m.shape[0]}x{m.shape[1]}x{m.shape[2]}", fontsize=8, loc="left"
        )
    axes[0, 0].set_axis_off()
    return fig


def confident_mistakes(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, k: int = 8, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` misclassified examples with the highest predicted probability.

    Returns:
        ``(indices, predicted, confidence)``, each ``(m,)`` with ``m <= k``, most confident first.
    """
    from cnnbook.training import predict  # local: training imports nothing from viz

    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor) or len(X) != len(y):
        raise ValueError("X, y: expected two tensors with the same number of examples")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: got {k!r}, expected a positive int")
    probs = predict(model, X, batch_size=batch_size, return_probs=True)
    confidence, predicted = probs.max(dim=1)
    wrong = torch.nonzero(predicted != y.cpu()).flatten()
    order = confidence[wrong].argsort(descending=True)[:k]
    idx = wrong[order]
    return idx, predicted[idx], confidence[idx]


def plot_confident_mistakes(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    k: int = 8,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """The ``k`` most confidently wrong examples, each titled "true -> predicted (confidence)".

    Returns:
        a figure with one axis (one image) per mistake found (at most ``k``; a single axis with
        a note when the model makes no mistake).
    """
    idx, predicted, confidence = confident_mistakes(model, X, y, k)
    if len(idx) == 0:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        ax.set_axis_off()
        return fig
    rows, cols = _grid(len(idx), 8)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)

    def name(c: int) -> str:
        return str(c) if class_names is None else class_names[c]

    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i, p, c in zip(
        axes.flat, idx.tolist(), predicted.tolist(), confidence.tolist(), strict=False
    ):
        ax.imshow(X[i].detach().cpu().float().mean(dim=0).numpy(), cmap="gray")
        ax.set_title(f"{name(int(y[i]))} -> {name(p)}\n({c:.0%})", fontsize=8)
    for ax in axes.flat[len(idx) :]:
        fig.delaxes(ax)
    return fig
