"""Train and evaluate PyTorch models: the loop of chapter 6 with the usual conveniences.

    train_one_epoch, evaluate   the two functions of assignment 06 (exact signatures)
    fit                         epochs, validation, schedules, early stopping, optional AMP
    History                     what fit records per epoch
    predict, set_seed           labels/probabilities for a tensor or loader; one seed for all RNGs

The loops keep running sums on the device and read them back once per epoch, so a batch costs
the forward, backward and update and nothing else (no host synchronisation per batch). Batches
already on the device (for example from :class:`cnnbook.data.DeviceLoader`) are not copied.

Devices, the same rule everywhere: ``fit`` moves the model to its device (documented there);
``train_one_epoch``, ``evaluate``, ``evaluate_loss_accuracy`` and ``predict`` never move a model
(that would change the caller's model, and an optimizer's state would stay behind): given a
``device`` that is not the model's, they raise a ValueError that says so. Without a device,
``evaluate_loss_accuracy`` and ``predict`` run on the model's own device.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import time
import warnings
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cnnbook.device import describe_device, get_device

__all__ = [
    "History",
    "fit",
    "train_one_epoch",
    "evaluate",
    "evaluate_loss_accuracy",
    "predict",
    "set_seed",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCHEDULERS = ("step", "cosine", "plateau")
OPTIMIZERS = ("adam", "sgd", "adamw")


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and every GPU) random generators.

    Args:
        seed: a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: got {seed!r}, expected a non-negative int")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global generator is what np.random.* draws from)
    torch.manual_seed(seed)  # also seeds every CUDA device


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run (lists have one entry per completed epoch).

    Attributes:
        train_loss, train_acc: mean loss and accuracy over the training batches of each epoch
            (measured while training, so with dropout active and weights changing).
        val_loss, val_acc: loss and accuracy on the validation loader, ``nan`` without one.
        lr: learning rate of the first parameter group during each epoch.
        epoch_time: wall-clock seconds of each epoch (training and validation).
        best_epoch: index (from 0) of the epoch with the lowest monitored loss (validation loss
            when there is a validation loader, else training loss).
        stopped_early: whether early stopping ended the run before ``epochs``.
        restored_best: whether the best epoch's weights were loaded back at the end.
        device: description of the device that ran the training.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    restored_best: bool = False
    device: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    @property
    def total_time(self) -> float:
        """Seconds spent in all epochs together."""
        return float(sum(self.epoch_time))

    def as_dict(self) -> dict[str, object]:
        """The record as a plain dict (for JSON or a pandas DataFrame)."""
        return {k: copy.copy(v) for k, v in self.__dict__.items()}


def _check_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return get_device()
    if isinstance(device, (str, torch.device)):
        return torch.device(device)
    raise ValueError(f"device: got {device!r}, expected None, a str or a torch.device")


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same, ``"cuda"`` meaning the current CUDA device."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        if a.type != "cuda":
            return True  # "cpu", "meta", "mps": one device each
        current = torch.cuda.current_device()
        return (a.index if a.index is not None else current) == (
            b.index if b.index is not None else current
        )
    return a.index == b.index


def _model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter (or buffer); None for a model without any."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return None if first is None else first.device


def _require_model_on(model: nn.Module, device: torch.device, fix: str) -> None:
    """Raise a ValueError when some parameter or buffer of ``model`` is not on ``device``."""
    elsewhere = sorted(
        {
            str(t.device)
            for t in itertools.chain(model.parameters(), model.buffers())
            if not _same_device(t.device, device)
        }
    )
    if elsewhere:
        raise ValueError(
            f"model: its parameters are on {', '.join(elsewhere)}, expected {device} (the "
            f"device argument); this function does not move a model: {fix}"
        )


def _loader_device(loader: object) -> torch.device | None:
    """The device a device-resident loader keeps its data on (None for other loaders)."""
    device = getattr(loader, "device", None)
    return device if isinstance(device, torch.device) else None


def _require_loader_on(name: str, loader: object, device: torch.device) -> None:
    """A device-resident loader on another device would copy every batch: refuse it."""
    where = _loader_device(loader)
    if where is not None and not _same_device(where, device):
        raise ValueError(
            f"{name}: a device-resident loader with its data on {where}, expected {device} "
            f"(the device of this run); build it with device={str(device)!r}, or pass "
            f"device={str(where)!r}"
        )


def _default_device(model: nn.Module, loader: object) -> torch.device:
    """The model's device; for a model without parameters the loader's, else the CPU."""
    return _model_device(model) or _loader_device(loader) or torch.device("cpu")


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}, expected a torch.nn.Module")
    return model


def _check_loader(name: str, loader: object) -> Iterable:
    if (
        loader is None
        or isinstance(loader, (torch.Tensor, np.ndarray))
        or not hasattr(loader, "__iter__")
    ):
        raise ValueError(
            f"{name}: got {type(loader).__name__}, expected an iterable of (X, y) batches "
            "such as a torch DataLoader"
        )
    return loader


def _run_epoch(
    model: nn.Module,
    loader: Iterable,
    loss_fn: LossFn,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None,
    scaler: torch.amp.GradScaler | None = None,
    autocast: torch.dtype | None = None,
    bar: tqdm | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``: train when ``optimizer`` is given, else just measure.

    ``autocast`` is the low-precision dtype of mixed precision (None: full precision).
    Returns the mean loss per example and the accuracy. Sums stay on the device until the end.
    """
    training = optimizer is not None
    model.train(training)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    amp_ctx = (
        torch.autocast(device_type=device.type, dtype=autocast)
        if autocast is not None
        else nullcontext()
    )
    grad_ctx = nullcontext() if training else torch.no_grad()
    with grad_ctx:
        for X, y in loader:
            # No copy when the batch is already there (a device-resident loader).
            X = X.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with amp_ctx:
                logits = model(X)
                loss = loss_fn(logits, y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            n = y.shape[0]
            # loss is a batch mean: weight it by the batch size so the epoch mean is per example
            loss_sum += loss.detach().double() * n
            correct += (logits.detach().argmax(dim=1) == y).sum()
            count += n
            if bar is not None:
                bar.update(1)
    if count == 0:
        raise ValueError("loader: got an empty loader, expected at least one batch")
    return loss_sum.item() / count, correct.item() / count


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    device: torch.device | str,
) -> float:
    """Train ``model`` for one pass over ``loader`` and return the mean training loss.

    Puts the model in training mode, moves each batch to ``device`` (the model must already be
    there), and for each batch runs forward, loss, ``zero_grad``, backward and ``optimizer.step``.

    Args:
        model: the network, already on ``device`` (it is not moved: a ValueError says so).
        loader: iterable of ``(X, y)`` batches, e.g. a ``DataLoader``.
        optimizer: a ``torch.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(logits, y) -> scalar tensor`` averaged over the batch,
            e.g. ``nn.CrossEntropyLoss()``.
        device: where the batches go.

    Returns:
        the mean loss per training example over the epoch (batches weighted by their size).

    Raises:
        ValueError: a bad argument, or a model that is not on ``device``.

    Shape:
        ``X`` is ``(N, C, H, W)``, ``y`` is ``(N,)`` class indices, ``model(X)`` is ``(N, K)``.
    """
    _check_model(model)
    _check_loader("loader", loader)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"optimizer: got {type(optimizer).__name__}, expected a torch.optim.Optimizer"
        )
    if not callable(loss_fn):
        raise ValueError(f"loss_fn: got {loss_fn!r}, expected a callable loss_fn(logits, y)")
    device = _check_device(device)
    _require_model_on(
        model, device, "call model.to(device) before building the optimizer (its state lives "
        "beside the parameters)"
    )  # fmt: skip
    _require_loader_on("loader", loader, device)
    loss, _ = _run_epoch(model, loader, loss_fn, device, optimizer)
    return loss


def evaluate_loss_accuracy(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    loss_fn: LossFn | None = None,
) -> tuple[float, float]:
    """Mean loss (cross-entropy by default) and accuracy of ``model`` on ``loader`` in eval mode.

    The model's train/eval mode is restored afterwards.

    Args:
        model: the network (not moved).
        loader: iterable of ``(X, y)`` batches.
        device: where to run; default the model's device (for a model without parameters: the
            loader's device if it is device-resident, else the CPU).
        loss_fn: ``loss_fn(logits, y)``, a batch mean; default cross-entropy.

    Returns:
        ``(loss, accuracy)``: the mean loss per example and the fraction of right arg-maxes.

    Raises:
        ValueError: a bad argument, or a ``device`` that is not the model's.
    """
    _check_model(model)
    _check_loader("loader", loader)
    device = _default_device(model, loader) if device is None else _check_device(device)
    _require_model_on(model, device, "move it with model.to(device), or leave device=None")
    _require_loader_on("loader", loader, device)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    was_training = model.training
    try:
        return _run_epoch(model, loader, loss_fn, device, optimizer=None)
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str) -> float:
    """Accuracy of ``model`` on ``loader``: the fraction of examples whose arg-max logit is right.

    Runs in eval mode (dropout off, batch norm on its running estimates) without gradients, and
    restores the model's previous mode afterwards.

    Args:
        model: the network, already on ``device`` (it is not moved: a ValueError says so).
        loader: iterable of ``(X, y)`` batches.
        device: where the batches go.

    Returns:
        accuracy in ``[0, 1]``.

    Raises:
        ValueError: a bad argument, or a model that is not on ``device``.

    Shape:
        ``X`` is ``(N, C, H, W)``, ``y`` is ``(N,)``, ``model(X)`` is ``(N, K)``.
    """
    _check_model(model)
    _check_loader("loader", loader)
    device = _check_device(device)
    _require_model_on(model, device, "move it first with model.to(device)")
    _require_loader_on("loader", loader, device)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), device=device, dtype=torch.int64)
    count = 0
    try:
        with torch.no_grad():
            for X, y in loader:
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                correct += (model(X).argmax(dim=1) == y).sum()
                count += y.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader: got an empty loader, expected at least one batch")
    return correct.item() / count


def predict(
    model: nn.Module,
    data: torch.Tensor | np.ndarray | Iterable,
    device: torch.device | str | None = None,
    *,
    batch_size: int = 512,
    return_probs: bool = False,
) -> torch.Tensor:
    """Predicted classes (or class probabilities) for every example, on the CPU.

    Args:
        model: the network.
        data: a tensor or array of inputs ``(N, C, H, W)``, or a loader of ``X`` or ``(X, y)``
            batches (labels are ignored).
        device: where to run (default: the model's device). The model is not moved: a device
            that is not the model's raises a ValueError.
        batch_size: batch size used when ``data`` is a tensor or array.
        return_probs: return softmax probabilities ``(N, K)`` instead of labels ``(N,)``.

    Returns:
        an int64 tensor of labels ``(N,)`` or a float tensor of probabilities ``(N, K)``.
    """
    _check_model(model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: got {batch_size!r}, expected a positive int")
    device = _default_device(model, data) if device is None else _check_device(device)
    _require_model_on(model, device, "move it with model.to(device), or leave device=None")
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        batches: Iterable = data.split(batch_size)
    else:
        batches = _check_loader("data", data)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for batch in batches:
                X = batch[0] if isinstance(batch, (tuple, list)) else batch
                logits = model(X.to(device)).float()
                outputs.append(logits.softmax(dim=1) if return_probs else logits.argmax(dim=1))
    finally:
        model.train(was_training)
    if not outputs:
        return torch.empty((0,), dtype=torch.int64)
    return torch.cat(outputs).cpu()


def _make_optimizer(
    optimizer: torch.optim.Optimizer | str | None, model: nn.Module, lr: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no parameter with requires_grad=True, nothing to train")
    name = "adam" if optimizer is None else optimizer
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(
        f"optimizer: got {optimizer!r}, expected None, one of {OPTIMIZERS} or a "
        "torch.optim.Optimizer"
    )


def _make_scheduler(scheduler, optimizer: torch.optim.Optimizer, epochs: int):
    if scheduler is None or not isinstance(scheduler, str):
        return scheduler
    if scheduler == "step":  # divide the rate by 10 twice: after a third and two thirds of the run
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
    raise ValueError(
        f"scheduler: got {scheduler!r}, expected None, one of {SCHEDULERS} or a torch scheduler"
    )


def _amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``fit(amp=True)`` on ``device``; None means full precision.

    CUDA: bfloat16 where supported (Ampere and later), else float16 (with a GradScaler). Other
    devices: None (CPU bfloat16 autocast measured no faster than float32 on the book's CNNs).
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _num_batches(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | str | None = None,
    lr: float = 1e-3,
    loss_fn: LossFn | None = None,
    scheduler: str | object | None = None,
    early_stopping_patience: int | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
    amp: bool = False,
    progress: bool = True,
) -> History:
    """Train ``model`` for up to ``epochs`` epochs and return its :class:`History`.

    Args:
        model: the network; it is moved to ``device`` (in place, so a ready ``optimizer`` keeps
            pointing at its parameters).
        train_loader: iterable of ``(X, y)`` training batches (reshuffled by the loader itself).
        val_loader: optional iterable of validation batches, evaluated after every epoch.
        epochs: maximum number of passes over ``train_loader``.
        optimizer: ``None`` or ``"adam"`` (Adam), ``"adamw"``, ``"sgd"`` (momentum 0.9), all at
            ``lr`` over the trainable parameters; or a ready ``torch.optim.Optimizer``, whose own
            learning rates are used.
        lr: learning rate for an optimizer built here.
        loss_fn: ``loss_fn(logits, y)``; default ``nn.CrossEntropyLoss()``.
        scheduler: ``None``; ``"step"`` (x0.1 every ``epochs // 3`` epochs); ``"cosine"`` (cosine
            decay to 0 over ``epochs``); ``"plateau"`` (x0.1 after 2 epochs without improvement
            of the monitored loss); or a torch scheduler object, stepped once per epoch.
        early_stopping_patience: stop after this many epochs without a lower monitored loss
            and load the best epoch's weights back. ``None`` trains all epochs and keeps the last
            weights.
        device: where to train. Default: the device of ``train_loader`` when it is device-resident
            (:class:`cnnbook.data.DeviceLoader`), else :func:`cnnbook.device.get_device`. A
            device-resident loader on another device raises a ValueError (every batch would be
            copied).
        seed: if given, :func:`set_seed` is called first (weights already built are unaffected;
            it fixes dropout and a loader's shuffling when the loader draws from torch's RNG).
        amp: mixed precision on CUDA: ``torch.autocast`` in bfloat16 where the GPU supports it
            (no loss scaling needed: bfloat16 has float32's range), else in float16 with a
            ``GradScaler``. Weights, optimizer state and the loss stay in float32. On other
            devices it is ignored with a warning and training runs in full precision (on the CPU
            bfloat16 autocast was measured no faster than float32 on the book's networks; see
            ``benchmarks/RESULTS.md``).
        progress: show ``tqdm`` progress bars (work in notebooks and terminals).

    Returns:
        the :class:`History` of the run. The monitored loss is the validation loss when
        ``val_loader`` is given, else the training loss.

    Example:
        >>> history = fit(build_small_cnn(), train_loader, val_loader, epochs=3)  # doctest: +SKIP
    """
    _check_model(model)
    _check_loader("train_loader", train_loader)
    if val_loader is not None:
        _check_loader("val_loader", val_loader)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: got {epochs!r}, expected a positive int")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: got {lr!r}, expected a positive number")
    if early_stopping_patience is not None and (
        isinstance(early_stopping_patience, bool)
        or not isinstance(early_stopping_patience, int)
        or early_stopping_patience < 1
    ):
        raise ValueError(
            f"early_stopping_patience: got {early_stopping_patience!r}, "
            "expected None or an int >= 1"
        )
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn: got {loss_fn!r}, expected a callable loss_fn(logits, y)")
    if device is None:
        device = _loader_device(train_loader) or get_device()
    device = _check_device(device)
    _require_loader_on("train_loader", train_loader, device)
    if val_loader is not None:
        _require_loader_on("val_loader", val_loader, device)
    if seed is not None:
        set_seed(seed)
    model.to(device)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    opt = _make_optimizer(optimizer, model, float(lr))
    sched = _make_scheduler(scheduler, opt, epochs)
    amp_dtype = _amp_dtype(device) if amp else None
    if amp and amp_dtype is None:
        warnings.warn(
            f"amp=True ignored: mixed precision is only used on CUDA, this run is on {device.type}",
            stacklevel=2,
        )
    # float16's narrow range needs loss scaling; bfloat16 has float32's exponent and does not.
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None

    history = History(device=describe_device(device))
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    n_batches = _num_batches(train_loader)
    epoch_bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=True)
    for epoch in epoch_bar:
        start = time.perf_counter()
        history.lr.append(float(opt.param_groups[0]["lr"]))
        with tqdm(
            total=n_batches, desc=f"epoch {epoch + 1}", leave=False, disable=not progress
        ) as bar:
            train_loss, train_acc = _run_epoch(
                model, train_loader, loss_fn, device, opt, scaler, amp_dtype, bar
            )
        if val_loader is not None:
            model.eval()
            val_loss, val_acc = _run_epoch(
                model, val_loader, loss_fn, device, None, None, amp_dtype
            )
        else:
            val_loss, val_acc = math.nan, math.nan
        history.epoch_time.append(time.perf_counter() - start)
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)

        monitored = val_loss if val_loader is not None else train_loss
        if monitored < best_loss:
            best_loss, stale = monitored, 0
            history.best_epoch = epoch
            if early_stopping_patience is not None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(monitored)
            else:
                sched.step()
        postfix = {"loss": f"{train_loss:.4f}", "acc": f"{train_acc:.3f}"}
        if val_loader is not None:
            postfix.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        epoch_bar.set_postfix(postfix)
        if early_stopping_patience is not None and stale >= early_stopping_patience:
            history.stopped_early = epoch + 1 < epochs
            break
    epoch_bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        history.restored_best = True
    model.train()
    return history
