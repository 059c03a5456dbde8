"""Transfer learning (chapter 7): freeze a base, swap the head, train with two learning rates.

    freeze, unfreeze        parameters off/on; frozen batch-norm layers stay in eval mode
    replace_head            a fresh last ``nn.Linear`` with ``num_classes`` outputs
    conv_base_end, split_base_head
                            where the convolutional base ends (the first ``nn.Flatten``) and
                            the two parts, ``(base, head)``, sharing the model's layers
    new_dense_head          every layer after the convolutional base re-initialised, the last
                            one with ``num_classes`` outputs
    param_groups            optimizer groups: the head at ``head_lr``, the base at ``base_lr``
    load_pretrained         the source network shipped with the package, checksum verified
    transfer_run            one training run of the chapter's experiment (a strategy, a
                            labelled-set size, a learning rate, a seed)
    transfer_experiment     scratch vs feature extraction vs fine-tuning on a few labelled
                            examples per class of "glyph-letters"

The *base* of chapter 7 is the convolutional stack (convolutions, batch norm, ReLU, pooling, up
to the ``nn.Flatten``); the *head* is everything after it, the dense layers included. In the
book's reference network the dense layer ``Linear(3136 -> 128)`` holds most of the parameters and
is specific to the source classes, so the experiment re-initialises it with the last layer.
``replace_head`` (the assignment's contract) swaps only the last ``nn.Linear``.

How frozen batch norm stays frozen: :func:`freeze` gives every batch-norm module it reaches its
own ``train`` method (an instance attribute, which Python looks up before the class's method)
that always sets ``training = False``. ``model.train()`` calls ``train`` on every child, so the
frozen layers keep normalising with their running estimates and never update them, while the
rest of the model (dropout, an unfrozen head) switches to training mode as usual.
:func:`unfreeze` removes that method again.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from cnnbook.models import build_reference_cnn_bn

__all__ = [
    "freeze",
    "unfreeze",
    "is_frozen_batchnorm",
    "find_head",
    "replace_head",
    "param_groups",
    "conv_base_end",
    "split_base_head",
    "new_dense_head",
    "ChecksumError",
    "PRETRAINED_DIR",
    "pretrained_info",
    "load_pretrained",
    "sha256_of",
    "STRATEGIES",
    "transfer_run",
    "transfer_experiment",
]

PRETRAINED_DIR = Path(__file__).with_name("pretrained")
PRETRAINED_NAME = "reference_cnn_bn_glyph_digits"
STRATEGIES = ("scratch", "feature_extraction", "fine_tuning")


def _check_module(name: str, module: object) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise ValueError(f"{name}: got {type(module).__name__}, expected a torch.nn.Module")
    return module


def _train_stays_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    """Replacement ``train`` of a frozen batch-norm layer: whatever ``mode`` is, stay in eval."""
    self.training = False
    return self


def freeze(module: nn.Module) -> nn.Module:
    """Stop ``module`` from learning: no parameter requires grad, batch norm stays in eval mode.

    Batch-norm layers (any ``_BatchNorm``: ``BatchNorm1d/2d/3d``, ``SyncBatchNorm``) inside
    ``module`` are put in eval mode and keep it even when ``.train()`` is called later on
    ``module`` or on a model containing it, so their running mean and variance are neither used
    as batch statistics nor updated (see the module docstring for how).

    Args:
        module: a model or a part of one (e.g. ``model[:-1]``, which shares its layers).

    Returns:
        ``module`` itself, frozen in place.
    """
    _check_module("module", module)
    for p in module.parameters():
        p.requires_grad_(False)
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            m.train = types.MethodType(_train_stays_eval, m)
            m.training = False
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Undo :func:`freeze`: every parameter requires grad, batch norm follows ``.train()`` again.

    The batch-norm layers keep their current (eval) mode until the next ``.train()`` call.

    Returns:
        ``module`` itself.
    """
    _check_module("module", module)
    for p in module.parameters():
        p.requires_grad_(True)
    for m in module.modules():
        if "train" in m.__dict__:
            del m.__dict__["train"]
    return module


def is_frozen_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` is a batch-norm layer frozen by :func:`freeze`."""
    return isinstance(module, _BatchNorm) and "train" in module.__dict__


def find_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The last ``nn.Linear`` of ``model`` in registration order, and its qualified name.

    For the book's sequential networks that is the layer producing the logits.
    """
    _check_module("model", model)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model: got a model without nn.Linear, expected a classifier head")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the last ``nn.Linear`` of ``model`` by a fresh one with ``num_classes`` outputs.

    The new layer has the old one's ``in_features``, bias setting, device and dtype, PyTorch's
    default initialisation, and requires grad (even if the model was frozen before).

    Args:
        model: a classifier whose last ``nn.Linear`` (in registration order) gives the logits.
        num_classes: number of outputs of the new head.

    Returns:
        ``model`` itself, changed in place.

    Shape:
        the model's output becomes ``(N, num_classes)``.
    """
    _check_module("model", model)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: got {num_classes!r}, expected a positive int")
    name, old = find_head(model)
    new = nn.Linear(
        old.in_features,
        num_classes,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    if not name:  # the model is itself a Linear: nothing to swap it into
        raise ValueError("model: got a bare nn.Linear, expected a model containing its head")
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)
    return model


def param_groups(
    model: nn.Module, head_lr: float, base_lr: float, *, head: nn.Module | None = None
) -> list[dict]:
    """Two parameter groups for a ``torch.optim`` optimizer: the head first, then the base.

    The head is ``head`` when given (a part of ``model``, e.g. the second item of
    :func:`split_base_head`), else the last ``nn.Linear`` (as in :func:`replace_head`); the base
    is every other parameter. Frozen parameters (``requires_grad=False``) are left out of both
    groups, always: a fully frozen base gives a base group with an empty ``params`` list, so the
    result has two groups whatever is frozen (optimizers accept an empty group). Each group
    carries a ``name`` (``"head"``/``"base"``), which optimizers keep and ignore.

    Args:
        model: the network.
        head_lr: learning rate of the head (typically the larger one).
        base_lr: learning rate of the base (typically 10-100x smaller when fine-tuning).
        head: the module whose parameters form the head (default: the last ``nn.Linear``).

    Returns:
        ``[{"params": [...], "lr": head_lr, "name": "head"},
        {"params": [...], "lr": base_lr, "name": "base"}]``.

    Example:
        >>> opt = torch.optim.Adam(param_groups(model, 1e-3, 1e-4))  # doctest: +SKIP
    """
    _check_module("model", model)
    for name, lr in (("head_lr", head_lr), ("base_lr", base_lr)):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
            raise ValueError(f"{name}: got {lr!r}, expected a number >= 0")
    if head is None:
        _, head = find_head(model)
    else:
        _check_module("head", head)
        model_ids = {id(p) for p in model.parameters()}
        if any(id(p) not in model_ids for p in head.parameters()):
            raise ValueError("head: got a module with parameters outside model, expected a part")
    head_ids = {id(p) for p in head.parameters()}
    head_params = [p for p in head.parameters() if p.requires_grad]
    base_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return [
        {"params": head_params, "lr": float(head_lr), "name": "head"},
        {"params": base_params, "lr": float(base_lr), "name": "base"},
    ]


def conv_base_end(model: nn.Module) -> int:
    """Index in ``model`` of its first ``nn.Flatten``: where the convolutional base ends.

    Args:
        model: an ``nn.Sequential`` whose convolutional layers come before an ``nn.Flatten``.

    Returns:
        ``k`` such that ``model[:k]`` is the convolutional base (convolutions, batch norm,
        activations, pooling) and ``model[k:]`` the dense head.

    Example:
        >>> conv_base_end(build_reference_cnn_bn())
        8
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model: got {type(model).__name__}, expected an nn.Sequential")
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Flatten):
            if i == 0:
                raise ValueError("model: starts with nn.Flatten, expected convolutions before it")
            return i
    raise ValueError("model: got no nn.Flatten, expected a convolutional base followed by one")


def split_base_head(model: nn.Module) -> tuple[nn.Sequential, nn.Sequential]:
    """The convolutional base and the dense head of ``model``, as two slices sharing its layers.

    Freezing or training a part changes the model itself (a slice of an ``nn.Sequential`` holds
    the same layer objects).

    Returns:
        ``(model[:k], model[k:])`` with ``k = conv_base_end(model)``.

    Shape:
        the base maps ``(N, C, H, W)`` to feature maps; the head maps them to ``(N, classes)``.
    """
    k = conv_base_end(model)
    return model[:k], model[k:]


def new_dense_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Re-initialise every layer after the convolutional base; the last linear layer gets
    ``num_classes`` outputs.

    The last ``nn.Linear`` is swapped by :func:`replace_head`; every other layer of the head
    with parameters (``Linear(3136 -> 128)`` in the reference network, a ``BatchNorm1d``) gets
    PyTorch's default initialisation again through its ``reset_parameters`` and requires grad.
    The base is not touched.

    Args:
        model: an ``nn.Sequential`` as in :func:`conv_base_end`.
        num_classes: outputs of the new last layer.

    Returns:
        ``model`` itself, changed in place.
    """
    _, head = split_base_head(model)
    if not any(isinstance(m, nn.Linear) for m in head.modules()):
        raise ValueError("model: got no nn.Linear after the nn.Flatten, expected a dense head")
    replace_head(model, num_classes)
    _, head = split_base_head(model)
    for m in head.modules():
        if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)):
            m.reset_parameters()
        if hasattr(m, "reset_running_stats"):
            m.reset_running_stats()
        for p in m.parameters(recurse=False):
            p.requires_grad_(True)
    return model


# --- the shipped source network -------------------------------------------------------------


class ChecksumError(ValueError):
    """A weights file whose SHA-256 is not the one recorded next to it."""


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pretrained_info(name: str = PRETRAINED_NAME) -> dict:
    """The JSON record of a shipped network: file, sha256, source task and accuracy, recipe."""
    path = PRETRAINED_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(
            f"name: no record {path.name} in {PRETRAINED_DIR}; run scripts/pretrain_source.py"
        )
    return json.loads(path.read_text())


def load_pretrained(
    path: str | Path | None = None, *, name: str = PRETRAINED_NAME, verify: bool = True
) -> nn.Module:
    """The source network of chapter 7, trained by the project on "glyph-digits" (10 classes).

    The architecture is :func:`cnnbook.models.build_reference_cnn_bn`; the weights were made by
    ``scripts/pretrain_source.py`` and their SHA-256 and test accuracy are recorded in
    ``cnnbook/pretrained/<name>.json`` (see :func:`pretrained_info`).

    Args:
        path: weights file to read (default: the shipped one). Its bytes must hash to the
            recorded SHA-256 whatever the path, so a corrupted or substituted copy is refused.
        name: which shipped network's record to use.
        verify: check the checksum (leave on; off only to inspect a file you know is different).

    Returns:
        the network on the CPU, in eval mode, all parameters trainable.

    Raises:
        ChecksumError: the file's SHA-256 differs from the recorded one.
    """
    info = pretrained_info(name)
    path = PRETRAINED_DIR / info["file"] if path is None else Path(path)
    if not path.is_file():
        raise ValueError(f"path: no file at {path}")
    blob = path.read_bytes()  # hash and load the same bytes
    digest = hashlib.sha256(blob).hexdigest()
    if verify and digest != info["sha256"]:
        raise ChecksumError(
            f"path: {path} has SHA-256 {digest}, expected {info['sha256']} "
            f"(recorded in {name}.json); the file is corrupted or not the shipped network"
        )
    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    model = build_reference_cnn_bn(num_classes=int(info["num_classes"]))
    model.load_state_dict(state)
    return model.eval()


# --- the chapter's experiment ---------------------------------------------------------------

#: Validation images kept apart at the end of the training pool, for choosing learning rates.
N_VAL = 500


def _target_data(
    n_per_class: int, seed: int, n_test: int, pool_size: int, n_val: int = N_VAL
) -> tuple[torch.Tensor, ...]:
    """Labelled subset (drawn with ``seed`` from the pool's first part), validation, test."""
    from cnnbook import data  # imported here: data generation is only needed by the experiment

    if pool_size <= n_val:
        raise ValueError(f"pool_size: got {pool_size}, expected more than {n_val} (validation)")
    X_pool, y_pool = data.load("glyph-letters", "train", n=pool_size, seed=0)
    n_draw = pool_size - n_val  # the last n_val images are the validation set, never drawn
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(10):
        members = np.flatnonzero(y_pool[:n_draw] == c)
        if len(members) < n_per_class:
            raise ValueError(
                f"n_per_class: got {n_per_class}, the pool of {n_draw} has only "
                f"{len(members)} examples of class {c}"
            )
        keep.append(rng.choice(members, size=n_per_class, replace=False))
    idx = np.sort(np.concatenate(keep))
    X_test, y_test = data.load("glyph-letters", "test", n=n_test, seed=0)
    t = torch.from_numpy
    return (
        t(X_pool[idx]), t(y_pool[idx]), t(X_pool[n_draw:]), t(y_pool[n_draw:]),
        t(X_test), t(y_test),
    )  # fmt: skip


def _train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """``steps`` updates on mini-batches drawn by reshuffling ``(X, y)`` every pass; returns the
    mean loss of the last pass's worth of steps."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(y), generator=generator)
    pos = 0
    per_pass = max(1, len(y) // batch_size)
    losses: list[float] = []
    for _ in range(steps):
        if pos + batch_size > len(y):
            order, pos = torch.randperm(len(y), generator=generator), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        loss = loss_fn(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses[-per_pass:]))


def transfer_run(
    n_per_class: int,
    strategy: str,
    *,
    lr: float = 1e-3,
    seed: int = 0,
    epochs: int = 30,
    min_steps: int = 100,
    max_steps: int = 300,
    batch_size: int = 32,
    base_lr_factor: float = 0.1,
    n_test: int = 1000,
    pool_size: int = 3000,
    device: torch.device | str | None = "cpu",
) -> dict[str, float]:
    """Train one strategy on ``n_per_class`` labelled "glyph-letters" per class; score it.

    The strategies (:data:`STRATEGIES`), all on the batch-norm reference network:

    - ``"scratch"``: fresh random weights, everything trained at ``lr``;
    - ``"feature_extraction"``: the shipped source network; its convolutional base frozen
      (:func:`freeze`, batch norm in eval mode); a new dense head (:func:`new_dense_head`:
      both linear layers re-initialised) trained at ``lr``. The frozen base's output does not
      change, so it is computed once and only the head runs in the loop (the same updates as
      running the whole model, at a fraction of the cost);
    - ``"fine_tuning"``: the source network with a new dense head, everything trained, the head
      at ``lr`` and the base at ``lr * base_lr_factor`` (:func:`param_groups`).

    Every strategy gets the same budget: ``epochs`` passes over the labelled set, clipped to
    ``[min_steps, max_steps]`` Adam updates of ``batch_size`` images.

    Args:
        n_per_class: labelled training examples per letter (10 classes).
        strategy: one of :data:`STRATEGIES`.
        lr: learning rate (of the head, for the transfer strategies).
        seed: draws the labelled subset, the initial weights and the batch order.
        epochs, min_steps, max_steps, batch_size: the training budget (see above).
        base_lr_factor: the base's learning rate relative to ``lr`` when fine-tuning.
        n_test: size of the "glyph-letters" test split used (fonts unseen in training).
        pool_size: training images the labelled subset is drawn from; the last
            :data:`N_VAL` of them are the validation set and never drawn.
        device: where to train.

    Returns:
        ``{"test_acc", "val_acc", "train_acc", "train_loss", "steps"}``.
    """
    from cnnbook.training import evaluate, set_seed

    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class: got {n_per_class!r}, expected a positive int")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: got {strategy!r}, expected one of {STRATEGIES}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: got {lr!r}, expected a number > 0")
    device = torch.device(device) if device is not None else torch.device("cpu")
    X, y, X_val, y_val, X_test, y_test = _target_data(n_per_class, seed, n_test, pool_size)
    X, y = X.to(device), y.to(device)
    steps = int(np.clip(math.ceil(epochs * len(y) / batch_size), min_steps, max_steps))
    set_seed(seed)
    if strategy == "scratch":
        model = build_reference_cnn_bn(num_classes=10)
    else:
        model = new_dense_head(load_pretrained(), 10)
    base, head = split_base_head(model)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    bs = min(batch_size, len(y))
    if strategy == "feature_extraction":
        freeze(base)
        with torch.no_grad():
            features = base(X)  # the frozen base (batch norm in eval mode) runs once
        optimizer = torch.optim.Adam(head.parameters(), lr=lr)
        train_loss = _train_steps(head, optimizer, features, y, steps, bs, generator)
    else:
        if strategy == "scratch":
            groups: list = list(model.parameters())
        else:
            groups = param_groups(model, head_lr=lr, base_lr=lr * base_lr_factor, head=head)
        optimizer = torch.optim.Adam(groups, lr=lr)
        train_loss = _train_steps(model, optimizer, X, y, steps, bs, generator)

    def score(X_: torch.Tensor, y_: torch.Tensor) -> float:
        return evaluate(model, list(zip(X_.split(500), y_.split(500), strict=True)), device)

    return {
        "test_acc": score(X_test, y_test),
        "val_acc": score(X_val, y_val),
        "train_acc": score(X.cpu(), y.cpu()),
        "train_loss": train_loss,
        "steps": steps,
    }


def transfer_experiment(
    n_per_class: int,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    *,
    lr: float | Mapping[str, float] = 1e-3,
    **kwargs: object,
) -> dict[str, float]:
    """Test accuracy of each strategy on ``n_per_class`` labelled letters per class.

    Every strategy gets the same labelled examples (drawn with ``seed``), the same training
    budget and the same test set; see :func:`transfer_run` for the strategies and ``kwargs``.

    Args:
        n_per_class: labelled training examples per letter (10 classes).
        seed: draws the labelled subset, the initial weights and the batch order.
        strategies: which of :data:`STRATEGIES` to run.
        lr: one learning rate for all, or ``{strategy: lr}`` (e.g. the best of a grid).
        **kwargs: passed to :func:`transfer_run` (``epochs``, ``max_steps``, ``n_test``, ...).

    Returns:
        ``{strategy: test accuracy in [0, 1]}``.

    Example:
        >>> transfer_experiment(10, seed=0)  # doctest: +SKIP
        {'scratch': 0.4..., 'feature_extraction': 0.7..., 'fine_tuning': 0.8...}
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"strategies: got {list(strategies)!r}, expected some of {STRATEGIES}")
    rates = lr if isinstance(lr, Mapping) else dict.fromkeys(strategies, lr)
    missing = [s for s in strategies if s not in rates]
    if missing:
        raise ValueError(f"lr: got no learning rate for {missing}, expected one per strategy")
    return {
        s: transfer_run(n_per_class, s, lr=rates[s], seed=seed, **kwargs)["test_acc"]
        for s in strategies
    }
