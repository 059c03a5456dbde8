"""Transfer learning (chapter 7): freeze a base, swap the head, train with two learning rates.

    freeze, unfreeze        parameters off/on; frozen batch-norm layers stay in eval mode
    replace_head            a fresh last ``nn.Linear`` with ``num_classes`` outputs
    param_groups            optimizer groups: the head at ``head_lr``, the base at ``base_lr``
    load_pretrained         the source network shipped with the package, checksum verified
    transfer_experiment     one cell of the chapter's experiment: scratch vs feature extraction vs
                            fine-tuning on a few labelled examples per class of "glyph-letters"

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
from collections.abc import Sequence
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
    "ChecksumError",
    "PRETRAINED_DIR",
    "pretrained_info",
    "load_pretrained",
    "sha256_of",
    "STRATEGIES",
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


def param_groups(model: nn.Module, head_lr: float, base_lr: float) -> list[dict]:
    """Two parameter groups for a ``torch.optim`` optimizer: the head first, then the base.

    The head is the last ``nn.Linear`` (as in :func:`replace_head`); the base is every other
    parameter. Frozen parameters (``requires_grad=False``) are left out of both groups, always:
    a fully frozen base gives a base group with an empty ``params`` list, so the result has two
    groups whatever is frozen (optimizers accept an empty group). Each group carries a ``name``
    (``"head"``/``"base"``), which optimizers keep and ignore.

    Args:
        model: the network.
        head_lr: learning rate of the head (typically the larger one).
        base_lr: learning rate of the base (typically 10-100x smaller when fine-tuning).

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
    _, head = find_head(model)
    head_ids = {id(p) for p in head.parameters()}
    head_params = [p for p in head.parameters() if p.requires_grad]
    base_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return [
        {"params": head_params, "lr": float(head_lr), "name": "head"},
        {"params": base_params, "lr": float(base_lr), "name": "base"},
    ]


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


def _target_data(
    n_per_class: int, seed: int, n_test: int, pool_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from cnnbook import data  # imported here: data generation is only needed by the experiment

    X_pool, y_pool = data.load("glyph-letters", "train", n=pool_size, seed=0)
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(10):
        members = np.flatnonzero(y_pool == c)
        if len(members) < n_per_class:
            raise ValueError(
                f"n_per_class: got {n_per_class}, the pool of {pool_size} has only "
                f"{len(members)} examples of class {c}"
            )
        keep.append(rng.choice(members, size=n_per_class, replace=False))
    idx = np.sort(np.concatenate(keep))
    X_test, y_test = data.load("glyph-letters", "test", n=n_test, seed=0)
    return (
        torch.from_numpy(X_pool[idx]),
        torch.from_numpy(y_pool[idx]),
        torch.from_numpy(X_test),
        torch.from_numpy(y_test),
    )


def _train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """``steps`` updates on mini-batches drawn by reshuffling ``(X, y)`` every pass."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(y), generator=generator)
    pos = 0
    for _ in range(steps):
        if pos + batch_size > len(y):
            order, pos = torch.randperm(len(y), generator=generator), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        loss = loss_fn(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def transfer_experiment(
    n_per_class: int,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    *,
    epochs: int = 40,
    min_steps: int = 100,
    max_steps: int = 400,
    batch_size: int = 32,
    lr: float = 1e-3,
    base_lr_factor: float = 0.1,
    n_test: int = 2000,
    pool_size: int = 3000,
    device: torch.device | str | None = "cpu",
) -> dict[str, float]:
    """Train on ``n_per_class`` labelled "glyph-letters" per class and return test accuracies.

    Every strategy gets the same labelled examples (drawn with ``seed``), the same number of
    Adam updates (``epochs`` passes, clipped to ``[min_steps, max_steps]``) and the same test set:

    - ``"scratch"``: the batch-norm reference network with fresh random weights, all at ``lr``;
    - ``"feature_extraction"``: the shipped source network, base frozen (:func:`freeze`, its
      batch norm in eval mode), a new 10-class head (:func:`replace_head`) trained at ``lr``;
    - ``"fine_tuning"``: the source network with a new head, everything trained, the head at
      ``lr`` and the base at ``lr * base_lr_factor`` (:func:`param_groups`).

    Args:
        n_per_class: labelled training examples per letter (10 classes).
        seed: draws the labelled subset, the initial weights and the batch order.
        strategies: which of :data:`STRATEGIES` to run.
        epochs, min_steps, max_steps, batch_size: the training budget (see above).
        lr, base_lr_factor: learning rates (see above).
        n_test: size of the "glyph-letters" test split used.
        pool_size: size of the training pool the labelled subset is drawn from.
        device: where to train (default the CPU: these models are small).

    Returns:
        ``{strategy: test accuracy in [0, 1]}``.

    Example:
        >>> transfer_experiment(10, seed=0)  # doctest: +SKIP
        {'scratch': 0.4..., 'feature_extraction': 0.7..., 'fine_tuning': 0.8...}
    """
    from cnnbook.training import evaluate, set_seed

    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class: got {n_per_class!r}, expected a positive int")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"strategies: got {list(strategies)!r}, expected some of {STRATEGIES}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    X, y, X_test, y_test = _target_data(n_per_class, seed, n_test, pool_size)
    X, y = X.to(device), y.to(device)
    steps = int(np.clip(math.ceil(epochs * len(y) / batch_size), min_steps, max_steps))
    test_batches = list(zip(X_test.split(500), y_test.split(500), strict=True))
    results: dict[str, float] = {}
    for strategy in strategies:
        set_seed(seed)
        if strategy == "scratch":
            model = build_reference_cnn_bn(num_classes=10)
            groups: list[dict] | list[nn.Parameter] = list(model.parameters())
        else:
            model = load_pretrained()
            if strategy == "feature_extraction":
                freeze(model)
            replace_head(model, 10)
            groups = param_groups(model, head_lr=lr, base_lr=lr * base_lr_factor)
            groups = [g for g in groups if g["params"]]
        model.to(device)
        optimizer = torch.optim.Adam(groups, lr=lr)
        generator = torch.Generator().manual_seed(seed)
        _train_steps(model, optimizer, X, y, steps, min(batch_size, len(y)), generator)
        results[strategy] = evaluate(model, test_batches, device)
    return results
