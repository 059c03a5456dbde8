"""Concept diagram of chapter 7: what feature extraction and fine-tuning freeze and train.

    transfer_strategies   the layers of the batch-norm reference network under both strategies

The diagram sets both strategies up with the package's own functions (``transfer.new_dense_head``,
``transfer.freeze``, ``transfer.param_groups``) and draws what they did: which parameters
require gradients, which batch-norm layers are held in eval mode, the learning rate of each
group and the number of trainable parameters.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from torch import nn

from cnnbook import models, transfer

from . import _style as S

__all__ = ["transfer_strategies"]

_FROZEN, _BASE, _HEAD, _NONE = S.PAD, S.KERNEL, S.OUTPUT, "white"


def _short(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return f"conv\n{m.in_channels}\u2192{m.out_channels}"
    if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
        return f"BN\n{m.num_features}"
    if isinstance(m, nn.Linear):
        return f"linear\n{m.in_features}\u2192{m.out_features}"
    if isinstance(m, nn.MaxPool2d):
        return "max\npool"
    if isinstance(m, nn.Dropout):
        return "drop\nout"
    return {"ReLU": "ReLU", "Flatten": "flat\nten"}.get(type(m).__name__, type(m).__name__)


def setups(num_classes: int = 10, head_lr: float = 1e-3, base_lr: float = 1e-4):
    """The two strategies on fresh copies of the batch-norm reference network.

    Returns:
        ``{"feature extraction": (model, groups), "fine-tuning": (model, groups)}`` with the
        optimizer parameter groups of :func:`cnnbook.transfer.param_groups`.
    """
    out = {}
    for name in ("feature extraction", "fine-tuning"):
        model = transfer.new_dense_head(models.build_reference_cnn_bn(), num_classes)
        base, head = transfer.split_base_head(model)
        if name == "feature extraction":
            transfer.freeze(base)
        groups = transfer.param_groups(model, head_lr=head_lr, base_lr=base_lr, head=head)
        out[name] = (model, groups)
    return out


def transfer_strategies(
    num_classes: int = 10, head_lr: float = 1e-3, base_lr: float = 1e-4
) -> Figure:
    """Two rows of layers: feature extraction (base frozen, new head trained) and fine-tuning
    (base trained at ``base_lr``, new head at ``head_lr``).

    Returns:
        the figure; the trainable-parameter count of row ``r`` has the gid ``f"trainable{r}"``,
        a frozen layer's box the gid ``"frozen"``.
    """
    fig, ax = S.canvas(9.5, 3.6)
    bw, bh, step = 0.95, 0.95, 1.12
    for r, (name, (model, groups)) in enumerate(setups(num_classes, head_lr, base_lr).items()):
        y = -r * 2.1
        lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
        k = transfer.conv_base_end(model)
        S.label(ax, -0.2, y + bh / 2, name, ha="right", va="center", fontsize=10)
        for i, m in enumerate(model):
            params = list(m.parameters())
            if not params:
                fill, gid = _NONE, None
            elif not any(p.requires_grad for p in params):
                fill, gid = _FROZEN, "frozen"
            else:
                fill = _HEAD if lr_of[id(params[0])] == head_lr and i >= k else _BASE
                gid = None
            S.box(ax, i * step, y, bw, bh, _short(m), fill=fill, fontsize=7.5, gid=gid)
            if isinstance(m, nn.BatchNorm2d) and transfer.is_frozen_batchnorm(m):
                S.label(
                    ax, i * step + bw / 2, y - 0.05, "eval", va="top", fontsize=7, color=S.FOCUS
                )
        xb = k * step - (step - bw) / 2
        ax.plot([xb, xb], [y - 0.35, y + bh + 0.25], color=S.INK, lw=1, ls=":")
        trainable = models.count_parameters(model, trainable_only=True)
        S.label(
            ax,
            len(model) * step + 0.1,
            y + bh / 2,
            f"{trainable:,} trainable\nparameters",
            ha="left",
            va="center",
            fontsize=9,
            gid=f"trainable{r}",
        )
        if r == 0:
            S.label(
                ax, k * step / 2, y + bh + 0.15, "convolutional base (source weights)", fontsize=9
            )
            S.label(ax, (k + len(model)) * step / 2, y + bh + 0.15, "new dense head", fontsize=9)
    legend = [
        (_FROZEN, "frozen (no gradient; BN kept in eval mode)"),
        (_BASE, f"trained at the base rate {base_lr:g}"),
        (_HEAD, f"trained at the head rate {head_lr:g}"),
        (_NONE, "no parameters"),
    ]
    for n, (fill, text) in enumerate(legend):
        lx, ly = (n % 2) * 7.0, -2 * 2.1 + 0.9 - (n // 2) * 0.5
        S.box(ax, lx, ly, 0.45, 0.32, fill=fill)
        S.label(ax, lx + 0.6, ly + 0.16, text, ha="left", va="center", fontsize=9)
    S.fit(ax, scale=0.62)
    return fig
