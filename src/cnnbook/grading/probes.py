"""Probes: run a student's function and report what it did as plain data.

Test cells never hold the torch objects a student's code returns; they call a probe with the
student's function and plain inputs (NumPy arrays, numbers, tuples, strings) and compare the plain
result (outputs, counts, flags, learning rates) with an oracle computed in the test cell. In a plain
notebook a probe simply runs locally; the grader runs the probe in the student's jail and ships
only the plain result back.

A probe runs beside the student's code, which can change anything in that process, the probe
included; so a probe reports only what the grader can check against its own oracle (arrays a
correct function produces), never a verdict. Time limits and scores on held-out data are measured
in the grader (:func:`fine_tuned_accuracy`), where the student's code cannot reach.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "probe_build_model",
    "probe_train_one_epoch",
    "probe_evaluate",
    "probe_freeze",
    "probe_replace_head",
    "probe_param_groups",
    "probe_fine_tune",
    "fine_tuned_accuracy",
    "transfer_task_data",
]


# ----------------------------------------------------------------------------------------------
# Assignment 6: building, training and evaluating a network


def _load_params(model, params) -> None:
    """Copy ``params`` (arrays, in ``model.parameters()`` order) into ``model``."""
    import torch

    own = list(model.parameters())
    shapes = [tuple(p.shape) for p in own]
    given = [tuple(np.shape(a)) for a in params]
    if shapes != given:
        raise AssertionError(
            f"the model's parameters (in registration order) have shapes {shapes}, expected {given}"
        )
    with torch.no_grad():
        for p, a in zip(own, params, strict=True):
            p.copy_(torch.as_tensor(np.asarray(a)))


def _numpy_params(model) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.parameters()]


def probe_build_model(build_fn: Callable[[], Any], x: np.ndarray, params=None) -> dict:
    """Build a model with ``build_fn()`` and describe it as plain data.

    Args:
        build_fn: the student's builder (e.g. ``build_reference_cnn``), called with no argument.
        x: a batch of inputs, float32, ``(N, C, H, W)``.
        params: optional arrays, one per parameter in registration order, loaded before running.

    Returns:
        ``num_params``, ``param_shapes`` (in registration order), ``output`` (the model applied
        to ``x`` in eval mode) and ``train_mode_is_random`` (whether two forward passes in
        training mode with different seeds differ, i.e. whether dropout is active).
    """
    import torch

    torch.manual_seed(0)
    model = build_fn()
    if not isinstance(model, torch.nn.Module):
        raise AssertionError(f"expected a torch.nn.Module, got {type(model).__name__}")
    result = {
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "param_shapes": [tuple(p.shape) for p in model.parameters()],
    }
    if params is not None:
        _load_params(model, params)
    inputs = torch.as_tensor(np.asarray(x, dtype=np.float32))
    with torch.no_grad():
        model.eval()
        result["output"] = model(inputs).numpy()
        model.train()
        torch.manual_seed(1)
        first = model(inputs)
        torch.manual_seed(2)
        second = model(inputs)
        result["train_mode_is_random"] = not torch.allclose(first, second)
    return result


def _mlp_with_batchnorm(in_features: int, hidden: int, num_classes: int):
    """``Flatten -> Linear -> BatchNorm1d -> ReLU -> Linear``: a small model whose output depends
    on train/eval mode (batch norm), used to probe training and evaluation loops."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def _loader(x, y, batch_size):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(
        torch.as_tensor(np.asarray(x, dtype=np.float32)), torch.as_tensor(np.asarray(y)).long()
    )
    return DataLoader(data, batch_size=int(batch_size), shuffle=False)


def probe_train_one_epoch(
    train_fn: Callable[..., Any],
    sizes: tuple[int, int, int],
    params: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    lr: float,
    momentum: float = 0.0,
) -> dict:
    """Run ``train_fn(model, loader, optimizer, loss_fn, device)`` for one epoch on plain data.

    The model is ``Flatten -> Linear(in, hidden) -> BatchNorm1d(hidden) -> ReLU ->
    Linear(hidden, classes)`` (``sizes = (in, hidden, classes)``) holding ``params``, left in
    eval mode beforehand (a training loop must switch it); the loader does not shuffle; the
    optimizer is ``torch.optim.SGD(lr, momentum)``; the loss is ``nn.CrossEntropyLoss()``; the
    device is the CPU.

    Returns:
        ``loss`` (what ``train_fn`` returned, as a float), ``params`` after the epoch and
        ``running_mean`` (the batch-norm running mean after the epoch).
    """
    import torch

    torch.manual_seed(0)
    model = _mlp_with_batchnorm(*sizes)
    _load_params(model, params)
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss = train_fn(
        model,
        _loader(x, y, batch_size),
        optimizer,
        torch.nn.CrossEntropyLoss(),
        torch.device("cpu"),
    )
    if hasattr(loss, "item"):
        raise AssertionError(f"expected a Python float, got {type(loss).__name__}; use .item()")
    return {
        "loss": float(loss),
        "params": _numpy_params(model),
        "running_mean": model[2].running_mean.numpy().copy(),
    }


def probe_evaluate(
    eval_fn: Callable[..., Any],
    sizes: tuple[int, int, int],
    params: list[np.ndarray],
    running_mean: np.ndarray,
    running_var: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
) -> dict:
    """Run ``eval_fn(model, loader, device)`` on plain data and report what it did.

    The model is the one of :func:`probe_train_one_epoch` holding ``params`` and the given
    batch-norm running estimates, left in *training* mode beforehand (evaluation must switch to
    eval mode).

    Returns:
        ``accuracy`` (as returned), ``params_changed`` and ``running_mean_changed`` (evaluation
        must change neither), ``requires_grad_after`` (all parameters still trainable).
    """
    import torch

    model = _mlp_with_batchnorm(*sizes)
    _load_params(model, params)
    with torch.no_grad():
        model[2].running_mean.copy_(torch.as_tensor(np.asarray(running_mean, dtype=np.float32)))
        model[2].running_var.copy_(torch.as_tensor(np.asarray(running_var, dtype=np.float32)))
    before = _numpy_params(model)
    model.train()
    accuracy = eval_fn(model, _loader(x, y, batch_size), torch.device("cpu"))
    if hasattr(accuracy, "item"):
        raise AssertionError(f"expected a Python float, got {type(accuracy).__name__}; use .item()")
    after = _numpy_params(model)
    return {
        "accuracy": float(accuracy),
        "params_changed": any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)),
        "running_mean_changed": not np.allclose(
            model[2].running_mean.numpy(), np.asarray(running_mean, dtype=np.float32)
        ),
    }


# ----------------------------------------------------------------------------------------------
# Assignment 7: transfer learning


def _small_bn_cnn(num_classes: int = 5):
    """A small CNN with batch norm for 1x8x8 inputs: ``[0] Conv(1->4, 3, pad 1), [1] BN, [2] ReLU,
    [3] MaxPool 2, [4] Flatten, [5] Linear(64->16), [6] ReLU, [7] Linear(16->num_classes)``."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.ReLU(),
        nn.Linear(16, num_classes),
    )


def probe_freeze(freeze_fn: Callable[[Any], Any], x: np.ndarray, what: str = "base") -> dict:
    """Freeze part of a small CNN with ``freeze_fn``, then run ``x`` through it in training mode.

    The CNN, for 1x8x8 inputs: ``[0] Conv(1->4, 3, pad 1), [1] BatchNorm2d, [2] ReLU,
    [3] MaxPool 2, [4] Flatten, [5] Linear(64->16), [6] ReLU, [7] Linear(16->5)`` (the head).

    Args:
        freeze_fn: the student's ``freeze(module)``.
        x: a float32 batch ``(N, 1, 8, 8)``.
        what: ``"base"`` freezes ``model[:-1]`` (everything but the head), ``"all"`` the model.

    Returns:
        ``names`` and ``requires_grad`` of every parameter after ``model.train()``, the
        ``bn_training`` flag of the batch-norm layer, and ``running_stats_changed`` after a
        forward pass in training mode.
    """
    import torch

    if what not in ("base", "all"):
        raise ValueError(f"what: got {what!r}, expected 'base' or 'all'")
    torch.manual_seed(0)
    model = _small_bn_cnn()
    with torch.no_grad():  # running estimates that differ from any batch's statistics
        model[1].running_mean.fill_(0.5)
        model[1].running_var.fill_(2.0)
    freeze_fn(model[:-1] if what == "base" else model)
    model.train()
    with torch.no_grad():
        model(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    return {
        "names": [name for name, _ in model.named_parameters()],
        "requires_grad": [bool(p.requires_grad) for p in model.parameters()],
        "bn_training": bool(model[1].training),
        "running_stats_changed": bool(
            not torch.all(model[1].running_mean == 0.5)
            or not torch.all(model[1].running_var == 2.0)
        ),
    }


def probe_replace_head(
    replace_fn: Callable[..., Any], num_classes: int, x: np.ndarray, freeze_first: bool = False
) -> dict:
    """Call ``replace_fn(model, num_classes)`` on the CNN of :func:`probe_freeze`, in eval mode.

    Args:
        replace_fn: the student's ``replace_head``.
        num_classes: the new number of classes.
        x: a float32 batch ``(N, 1, 8, 8)``.
        freeze_first: set ``requires_grad=False`` on every parameter before the call.

    Returns:
        ``output`` of the returned model on ``x``, ``features`` (the input of its last linear
        layer), that layer's ``head_weight`` and ``head_bias``, ``head_requires_grad``,
        ``head_is_new`` (a different module from the old head), ``base_unchanged`` (all other
        parameters equal to before) and ``num_linear`` (number of linear layers).
    """
    import torch

    torch.manual_seed(0)
    model = _small_bn_cnn(5)
    model.eval()
    old_head = model[7]
    base_before = [p.detach().clone() for p in model[:-1].parameters()]
    if freeze_first:
        for p in model.parameters():
            p.requires_grad_(False)
    torch.manual_seed(1)
    new_model = replace_fn(model, num_classes)
    if not isinstance(new_model, torch.nn.Module):
        raise AssertionError(
            f"replace_head returned {type(new_model).__name__}, expected the model"
        )
    linears = [m for m in new_model.modules() if isinstance(m, torch.nn.Linear)]
    head = linears[-1]
    features = {}

    def keep_input(module, inputs, output) -> None:  # returns None: the output is unchanged
        features["x"] = inputs[0]

    hook = head.register_forward_hook(keep_input)
    new_model.eval()
    with torch.no_grad():
        output = new_model(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    hook.remove()
    base_after = [p.detach() for n, p in new_model.named_parameters() if not n.startswith("7.")]
    return {
        "output": output.numpy(),
        "features": features["x"].numpy(),
        "head_weight": head.weight.detach().numpy().copy(),
        "head_bias": None if head.bias is None else head.bias.detach().numpy().copy(),
        "head_requires_grad": all(p.requires_grad for p in head.parameters()),
        "head_is_new": head is not old_head,
        "base_unchanged": len(base_after) == len(base_before)
        and all(torch.equal(a, b) for a, b in zip(base_before, base_after, strict=True)),
        "num_linear": len(linears),
    }


def probe_param_groups(
    groups_fn: Callable[..., Any], head_lr: float, base_lr: float, freeze_base: bool = False
) -> dict:
    """Call ``groups_fn(model, head_lr, base_lr)`` on the CNN of :func:`probe_freeze`.

    Returns:
        ``groups``: for each group, its ``lr`` (None if missing) and the ``names`` of its
        parameters; ``all_names`` and ``trainable_names`` of the model; ``sgd``: ``"ok"`` when
        ``torch.optim.SGD`` accepts the groups, else the error it raised.
    """
    import torch

    torch.manual_seed(0)
    model = _small_bn_cnn(5)
    if freeze_base:
        for p in model[:-1].parameters():
            p.requires_grad_(False)
    groups = groups_fn(model, head_lr, base_lr)
    name_of = {id(p): name for name, p in model.named_parameters()}
    described = []
    for group in groups:
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        described.append(
            {
                "lr": None if "lr" not in group else float(group["lr"]),
                "names": [name_of.get(id(p), "<not a parameter of the model>") for p in params],
            }
        )
    try:
        torch.optim.SGD(groups, lr=123.0)
        sgd = "ok"
    except Exception as error:  # report why the optimizer refuses the groups
        sgd = f"{type(error).__name__}: {error}"
    return {
        "groups": described,
        "all_names": [name for name, _ in model.named_parameters()],
        "trainable_names": [name for name, p in model.named_parameters() if p.requires_grad],
        "sgd": sgd,
    }


def transfer_task_data(
    n_per_class: int = 20, seed: int = 0, n_test: int = 1000, test_seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The offline target task of assignment 7: a few labelled "glyph-letters" per class.

    Args:
        n_per_class: labelled training images per class (10 classes).
        seed: which images are drawn from the training pool.
        n_test: size of the test set.
        test_seed: which test images are generated (the hidden test draws a secret one in the
            grader, so no submission can know its images).

    Returns:
        ``(X_train, y_train, X_test, y_test)``: float32 images ``(N, 1, 28, 28)`` in [0, 1] and
        int64 labels; fresh copies on every call (the generated data is cached).
    """
    arrays = _transfer_task_cached(int(n_per_class), int(seed), int(n_test), int(test_seed))
    return tuple(a.copy() for a in arrays)


@functools.lru_cache(maxsize=4)
def _transfer_task_cached(n_per_class: int, seed: int, n_test: int, test_seed: int):
    from cnnbook import data

    pool_x, pool_y = data.load("glyph-letters", "train", n=max(600, 30 * n_per_class), seed=0)
    rng = np.random.default_rng(seed)
    keep = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(pool_y == c), size=n_per_class, replace=False)
                for c in range(10)
            ]
        )
    )
    test_x, test_y = data.load("glyph-letters", "test", n=n_test, seed=test_seed)
    return pool_x[keep], pool_y[keep], test_x, test_y


def probe_fine_tune(
    fine_tune_fn: Callable[..., Any], x_train: np.ndarray, y_train: np.ndarray
) -> dict:
    """Call ``fine_tune_fn(X_train, y_train)`` (as torch tensors) and return the weights of the
    model it returns, as plain arrays: ``{"state": {name: array}}`` in ``state_dict`` order.

    Nothing is measured here: the grader times the call from outside and scores the weights with
    :func:`fine_tuned_accuracy` on test images the student's process never sees.
    """
    import torch

    model = fine_tune_fn(
        torch.as_tensor(np.asarray(x_train, dtype=np.float32)), torch.as_tensor(np.asarray(y_train))
    )
    if not isinstance(model, torch.nn.Module):
        raise AssertionError(
            f"fine_tune returned {type(model).__name__}, expected a torch.nn.Module"
        )
    state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return {"state": state}


def fine_tuned_accuracy(
    report: dict, x_test: np.ndarray, y_test: np.ndarray, num_classes: int = 10
) -> float:
    """The accuracy on ``(x_test, y_test)`` of the weights :func:`probe_fine_tune` returned.

    Runs where it is called (in the grader: outside the student's process). The weights are
    loaded into the grader's own copy of the architecture, the shipped pretrained network with a
    fresh ``num_classes``-way head (:func:`cnnbook.transfer.replace_head`), so only numbers come
    from the student: no code, no module of theirs runs here.

    Raises:
        AssertionError: the weights do not fit that architecture (names, shapes).
    """
    import torch

    from cnnbook.transfer import load_pretrained, replace_head

    state = report.get("state") if isinstance(report, dict) else None
    if not isinstance(state, dict):
        raise AssertionError("fine_tune's model could not be read back (no state)")
    model = replace_head(load_pretrained(), num_classes)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(np.shape(v)) for k, v in state.items()}
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])[:3]
        raise AssertionError(
            "fine_tune must return the pretrained network with a new "
            f"{num_classes}-class head (missing {missing}, unexpected {extra}, "
            f"wrong shapes {wrong})"
        )
    tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in state.items()}
    if not all(torch.isfinite(t.float()).all() for t in tensors.values()):
        raise AssertionError("fine_tune's model has weights that are NaN or infinite")
    model.load_state_dict(tensors, strict=True)
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y_test), 500):
            xb = torch.as_tensor(np.asarray(x_test[start : start + 500], dtype=np.float32))
            predicted = model(xb).argmax(1).numpy()
            correct += int((predicted == np.asarray(y_test[start : start + 500])).sum())
    return correct / len(y_test)
