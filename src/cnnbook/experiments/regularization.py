"""Regularisers compared over several seeds: weight decay, dropout, shifts, early stopping.

Chapter 6 draws conclusions from these runs, so each comparison is repeated over seeds and
summarised by its mean and spread. The runs are too many for the book's build: the script
``scripts/experiments/ch6_regularization.py`` runs them and stores the result
(:mod:`cnnbook.results`); the chapter loads it, and a test re-runs part of it.

    glyph_splits              the training, validation and test images the runs use
    small_cnn                 the chapter's one-convolution network, optionally with dropout
    train_run                 one seeded run of one setting; curves and final accuracies
    early_stop_epochs         where ``fit``'s early stopping stops, from a validation-loss curve
    summarise                 mean, standard deviation, minimum and maximum over seeds
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from cnnbook.data import make_loader
from cnnbook.training import evaluate_loss_accuracy, fit
from cnnbook.viz.regularization import ShiftedLoader

__all__ = ["glyph_splits", "small_cnn", "train_run", "early_stop_epochs", "summarise"]


def _check_float(name: str, value: object, low: float, high: float = math.inf) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value < high
    if not ok:
        raise ValueError(f"{name}: got {value!r}, expected a number in [{low}, {high})")
    return float(value)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: got {value!r}, expected an int >= {low}")
    return int(value)


def glyph_splits(
    n_train: int = 300, n_val: int = 500, n_test: int = 500, seed: int = 0
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Typed digits (``glyph-digits``) split three ways: train, validation and test.

    Training and validation images are disjoint parts of the dataset's training split; the test
    images come from its test split, which is drawn separately.

    Args:
        n_train, n_val, n_test: number of images in each part (positive).
        seed: seed of the generated dataset.

    Returns:
        ``{"train": (X, y), "val": (X, y), "test": (X, y)}`` with float32 images
        ``(N, 1, 28, 28)`` and int64 labels.
    """
    from cnnbook.data import load

    n_train = _check_int("n_train", n_train, 1)
    n_val = _check_int("n_val", n_val, 1)
    n_test = _check_int("n_test", n_test, 1)
    X, y = load("glyph-digits", "train", n=n_train + n_val, seed=seed)
    Xt, yt = load("glyph-digits", "test", n=n_test, seed=seed)
    t = [torch.as_tensor(a) for a in (X, y, Xt, yt)]
    return {
        "train": (t[0][:n_train].float(), t[1][:n_train].long()),
        "val": (t[0][n_train:].float(), t[1][n_train:].long()),
        "test": (t[2].float(), t[3].long()),
    }


def small_cnn(dropout: float = 0.0, num_classes: int = 10) -> nn.Sequential:
    """``models.build_small_cnn``, with ``Dropout(dropout)`` before its linear layer if > 0.

    ``Conv(1->32, 3) -> ReLU -> MaxPool 2 -> Flatten (5408) -> [Dropout p] -> Linear(5408->10)``.
    Dropout has no parameters, so every variant holds the same 54,410 weights.

    Args:
        dropout: probability of zeroing each of the 5408 features in training, in ``[0, 1)``.
        num_classes: outputs of the linear layer.

    Returns:
        an ``nn.Sequential``; with ``dropout == 0`` it is exactly ``build_small_cnn``.

    Shape:
        input ``(N, 1, 28, 28)``, output ``(N, num_classes)``.
    """
    from cnnbook.models import build_small_cnn

    p = _check_float("dropout", dropout, 0.0, 1.0)
    model = build_small_cnn(num_classes)
    if p == 0:
        return model
    layers = list(model)
    return nn.Sequential(*layers[:-1], nn.Dropout(p), layers[-1])


def train_run(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    dropout: float = 0.0,
    shift: int = 0,
    early_stopping_patience: int | None = None,
    momentum: float = 0.9,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, object]:
    """Train :func:`small_cnn` once with SGD + momentum on the CPU and measure it.

    The seed fixes the initial weights, the batch order, dropout and the shifts, so a setting
    differs from another only by what it changes. Accuracies at the end are measured in eval
    mode on clean images (no dropout, no shift), so the training accuracy is comparable with
    the validation accuracy.

    Args:
        train, val: ``(X, y)`` images ``(N, 1, 28, 28)`` and labels ``(N,)``.
        test: optional ``(X, y)`` never used for any choice, measured at the end.
        epochs: maximum number of epochs.
        lr: SGD learning rate.
        weight_decay: L2 coefficient (SGD adds ``weight_decay * w`` to each gradient).
        dropout: dropout probability before the linear layer.
        shift: augmentation: each training image moved by up to this many pixels when seen.
        early_stopping_patience: passed to ``fit`` (``None``: train every epoch, keep the last
            weights).
        momentum, batch_size: SGD settings.
        seed: seed of everything random in the run.

    Returns:
        a dict of plain numbers and lists (JSON-ready): the per-epoch ``val_loss``,
        ``val_acc`` and ``train_loss`` (as ``fit`` measured them), ``best_epoch`` and
        ``epochs_run`` (1-based), and, with the final weights (the best epoch's when early
        stopping restored them), ``train_acc``, ``val_acc_final``, ``val_loss_final`` and
        ``test_acc`` (``None`` without ``test``).
    """
    epochs = _check_int("epochs", epochs, 1)
    lr = _check_float("lr", lr, 1e-12)
    weight_decay = _check_float("weight_decay", weight_decay, 0.0)
    shift = _check_int("shift", shift, 0)
    seed = _check_int("seed", seed, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    torch.manual_seed(seed)
    model = small_cnn(dropout)
    loader: Iterable = make_loader(*train, batch_size=batch_size, seed=seed)
    if shift:
        loader = ShiftedLoader(loader, shift, seed=seed)
    val_loader = make_loader(*val, batch_size=512, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    history = fit(
        model,
        loader,
        val_loader,
        epochs=epochs,
        optimizer=opt,
        early_stopping_patience=early_stopping_patience,
        device="cpu",
        seed=seed,
        progress=False,
    )
    loss_fn = nn.CrossEntropyLoss()
    clean_train = make_loader(*train, batch_size=512, shuffle=False)
    _, train_acc = evaluate_loss_accuracy(model, clean_train, loss_fn=loss_fn, device="cpu")
    val_loss, val_acc = evaluate_loss_accuracy(model, val_loader, loss_fn=loss_fn, device="cpu")
    test_acc = None
    if test is not None:
        _, test_acc = evaluate_loss_accuracy(
            model, make_loader(*test, batch_size=512, shuffle=False), loss_fn=loss_fn, device="cpu"
        )
    return {
        "train_loss": [float(v) for v in history.train_loss],
        "val_loss": [float(v) for v in history.val_loss],
        "val_acc": [float(v) for v in history.val_acc],
        "best_epoch": int(history.best_epoch) + 1,
        "epochs_run": int(history.epochs),
        "train_acc": float(train_acc),
        "val_acc_final": float(val_acc),
        "val_loss_final": float(val_loss),
        "test_acc": None if test_acc is None else float(test_acc),
    }


def early_stop_epochs(val_losses: Sequence[float], patience: int) -> tuple[int, int]:
    """Where early stopping with ``patience`` stops on a validation-loss curve, and what it keeps.

    The rule of ``cnnbook.training.fit``: an epoch improves when its loss is strictly lower than
    every earlier one; training stops after ``patience`` epochs in a row without improvement,
    and the weights of the best epoch are kept.

    Args:
        val_losses: one validation loss per epoch, in order.
        patience: epochs without improvement that end the run (>= 1).

    Returns:
        ``(stop_epoch, best_epoch)``, both 1-based; ``stop_epoch == len(val_losses)`` when the
        rule never fires.
    """
    patience = _check_int("patience", patience, 1)
    losses = [float(v) for v in val_losses]
    if not losses:
        raise ValueError("val_losses: got an empty sequence, expected one loss per epoch")
    best, best_epoch, stale = math.inf, 0, 0
    for epoch, loss in enumerate(losses, start=1):
        if loss < best:
            best, best_epoch, stale = loss, epoch, 0
        else:
            stale += 1
        if stale >= patience:
            return epoch, best_epoch
    return len(losses), best_epoch


def summarise(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (``ddof=1``; 0 for one value), minimum and maximum.

    Args:
        values: one number per seed (finite).

    Returns:
        ``{"mean", "std", "min", "max", "n"}``.
    """
    x = np.asarray(list(values), dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"values: got {values!r}, expected a non-empty sequence of finite numbers")
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {
        "mean": float(x.mean()),
        "std": std,
        "min": float(x.min()),
        "max": float(x.max()),
        "n": int(x.size),
    }
