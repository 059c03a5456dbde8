"""cnnbook.training against hand-written PyTorch loops and direct computations."""

import copy
import math
import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from cnnbook import training
from cnnbook.models import build_small_cnn


def tiny_cnn(num_classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 13 * 13, num_classes)
    )


def test_train_one_epoch_matches_a_hand_written_loop(toy, make_dl):
    X, y = toy
    torch.manual_seed(0)
    model = tiny_cnn()
    oracle = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt_oracle = torch.optim.SGD(oracle.parameters(), lr=0.1, momentum=0.9)
    dl = make_dl(X, y, batch_size=50)  # 192 = 3 x 50 + 42: a short last batch
    loss = training.train_one_epoch(model, dl, opt, nn.CrossEntropyLoss(), "cpu")

    total, count = 0.0, 0
    for xb, yb in dl:
        out = nn.functional.cross_entropy(oracle(xb), yb)
        opt_oracle.zero_grad()
        out.backward()
        opt_oracle.step()
        total += out.item() * len(yb)
        count += len(yb)
    assert loss == pytest.approx(total / count, rel=1e-6)
    for p, q in zip(model.parameters(), oracle.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert model.training


def test_train_one_epoch_with_zero_lr_returns_the_dataset_loss(toy, make_dl):
    X, y = toy
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = training.train_one_epoch(model, make_dl(X, y, 25), opt, nn.CrossEntropyLoss(), "cpu")
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(X), y).item()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_evaluate_is_the_fraction_of_correct_argmax(toy, make_dl):
    X, y = toy
    model = nn.Sequential(tiny_cnn(), nn.Dropout(0.5))
    model.train()
    with torch.no_grad():
        model.eval()
        expected = (model(X).argmax(1) == y).double().mean().item()
        model.train()
    acc = training.evaluate(model, make_dl(X, y, 37), "cpu")
    assert acc == pytest.approx(expected)
    assert 0 <= acc <= 1 and model.training  # eval mode was used and the mode restored
    loss, acc2 = training.evaluate_loss_accuracy(model, make_dl(X, y, 37))
    model.eval()
    assert acc2 == pytest.approx(expected)
    assert loss == pytest.approx(nn.functional.cross_entropy(model(X), y).item(), rel=1e-5)


def test_predict_labels_and_probabilities(toy, make_dl):
    X, y = toy
    model = tiny_cnn().eval()
    with torch.no_grad():
        logits = model(X)
    labels = training.predict(model, X, batch_size=50)
    assert torch.equal(labels, logits.argmax(1))
    probs = training.predict(model, X.numpy(), return_probs=True)
    torch.testing.assert_close(probs, logits.softmax(1))
    from_loader = training.predict(model, make_dl(X, y, 64))
    assert torch.equal(from_loader, labels)


def test_fit_learns_and_records_history(toy, make_dl, toy_images):
    X, y = toy
    Xv, yv = toy_images(96, seed=1)
    model = tiny_cnn()
    history = training.fit(
        model, make_dl(X, y, 32, True), make_dl(Xv, yv, 48), epochs=6, lr=3e-3, seed=0,
        progress=False, device="cpu",
    )  # fmt: skip
    assert history.epochs == 6
    for series in (history.train_loss, history.train_acc, history.val_loss, history.val_acc):
        assert len(series) == 6 and all(math.isfinite(v) for v in series)
    assert history.val_acc[-1] > 0.9  # the toy task is easy
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.lr == [3e-3] * 6 and len(history.epoch_time) == 6
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert training.evaluate(model, make_dl(Xv, yv), "cpu") == pytest.approx(history.val_acc[-1])
    assert history.device.startswith("cpu") and not history.stopped_early
    assert set(history.as_dict()) >= {"train_loss", "val_acc", "best_epoch"}


def test_fit_is_reproducible_with_a_seed(toy, make_dl):
    X, y = toy
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = nn.Sequential(tiny_cnn(), nn.Dropout(0.3))
        h = training.fit(model, make_dl(X, y, 32, True), epochs=2, seed=1, progress=False)
        runs.append(h.train_loss)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["step", "cosine"])
def test_fit_schedules_follow_their_formula(toy, name, make_dl):
    X, y = toy
    epochs, lr = 6, 0.1
    h = training.fit(
        tiny_cnn(), make_dl(X[:64], y[:64]), epochs=epochs, optimizer="sgd", lr=lr,
        scheduler=name, progress=False,
    )  # fmt: skip
    if name == "step":  # x0.1 every epochs // 3 = 2 epochs
        expected = [lr * 0.1 ** (e // 2) for e in range(epochs)]
    else:
        expected = [lr * (1 + math.cos(math.pi * e / epochs)) / 2 for e in range(epochs)]
    assert h.lr == pytest.approx(expected)


def test_fit_plateau_lowers_lr_when_validation_stalls(toy, make_dl):
    X, y = toy
    # Validation labels are shifted by one class: learning y makes the validation loss worse.
    y_shifted = (y + 1) % 3
    h = training.fit(
        tiny_cnn(), make_dl(X, y), make_dl(X, y_shifted), epochs=6, lr=0.01, scheduler="plateau",
        progress=False, seed=0,
    )  # fmt: skip
    # patience 2: the third epoch without improvement divides the rate by ten
    best = h.best_epoch
    assert h.lr[: best + 4] == pytest.approx([0.01] * (best + 4))
    assert h.lr[best + 4] == pytest.approx(0.001)


def test_early_stopping_restores_the_best_weights(toy, make_dl):
    X, y = toy
    flipped = (y + 1) % 3  # the better it learns y, the worse the validation loss gets
    torch.manual_seed(0)
    model = tiny_cnn()
    first_epoch_only = copy.deepcopy(model)
    train = make_dl(X, y, 32, shuffle=True)
    h = training.fit(
        model, train, make_dl(X, flipped), epochs=20, lr=3e-3, early_stopping_patience=2,
        seed=3, progress=False,
    )  # fmt: skip
    assert h.best_epoch == 0 and h.epochs == 3 and h.stopped_early and h.restored_best
    # oracle: the same run stopped after one epoch
    training.fit(first_epoch_only, train, epochs=1, lr=3e-3, seed=3, progress=False)
    for p, q in zip(model.parameters(), first_epoch_only.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_fit_accepts_an_optimizer_object_and_a_custom_loss(toy, make_dl):
    X, y = toy
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    calls = []

    def loss_fn(logits, target):
        calls.append(len(target))
        return nn.functional.cross_entropy(logits, target)

    h = training.fit(
        model, make_dl(X, y, 64), epochs=1, optimizer=opt, loss_fn=loss_fn, progress=False
    )
    assert calls == [64, 64, 64] and h.lr == [0.05]


def test_amp_on_cpu_warns_and_trains_in_float32(toy, make_dl):
    X, y = toy
    with pytest.warns(UserWarning, match="amp=True ignored"):
        h = training.fit(
            tiny_cnn(), make_dl(X, y), epochs=1, amp=True, device="cpu", progress=False
        )
    assert math.isfinite(h.train_loss[0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_on_cuda_trains(toy, make_dl):
    X, y = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = training.fit(
            tiny_cnn(), make_dl(X, y), epochs=3, amp=True, device="cuda", progress=False
        )
    assert h.train_loss[-1] < h.train_loss[0]


def test_progress_bar_writes_only_when_asked(toy, capsys, make_dl):
    X, y = toy
    training.fit(tiny_cnn(), make_dl(X, y), epochs=1, progress=False)
    assert "epoch" not in capsys.readouterr().err
    training.fit(tiny_cnn(), make_dl(X, y), epochs=1, progress=True)
    assert "epochs" in capsys.readouterr().err


def test_set_seed_fixes_every_generator():
    draws = []
    for _ in range(2):
        training.set_seed(123)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))  # noqa: NPY002
    assert draws[0] == draws[1]
    with pytest.raises(ValueError, match="seed"):
        training.set_seed(-1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1, "lr": -1.0}, "lr"),
        ({"epochs": 1, "scheduler": "linear"}, "scheduler"),
        ({"epochs": 1, "optimizer": "rmsprop"}, "optimizer"),
        ({"epochs": 1, "early_stopping_patience": 0}, "early_stopping_patience"),
        ({"epochs": 1, "device": 3}, "device"),
    ],
)
def test_fit_rejects_bad_arguments(toy, kwargs, match, make_dl):
    X, y = toy
    with pytest.raises(ValueError, match=match):
        training.fit(tiny_cnn(), make_dl(X, y), progress=False, **kwargs)


def test_bad_models_and_loaders_are_rejected(toy, make_dl):
    X, y = toy
    model = build_small_cnn()
    with pytest.raises(ValueError, match="train_loader"):
        training.fit(model, X, epochs=1)
    with pytest.raises(ValueError, match="model"):
        training.evaluate("model", make_dl(X, y), "cpu")
    with pytest.raises(ValueError, match="optimizer"):
        training.train_one_epoch(model, make_dl(X, y), "sgd", nn.CrossEntropyLoss(), "cpu")
    with pytest.raises(ValueError, match="empty"):
        training.evaluate(model, [], "cpu")


def test_fit_steps_a_scheduler_object_once_per_epoch(toy, make_dl):
    X, y = toy
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    h = training.fit(
        model, make_dl(X[:32], y[:32]), epochs=3, optimizer=opt, scheduler=sched, progress=False
    )
    assert h.lr == [1.0, 0.5, 0.25] and h.total_time == pytest.approx(sum(h.epoch_time))


# --- devices: the same rule in every function, checked on the CPU with the "meta" device -----
# "meta" tensors have shapes but no data: a second device that every CPU machine has. A model or
# batch on the wrong one fails at once, as a CPU tensor meeting a CUDA one does on a GPU machine.

META = torch.device("meta")


class _Stop(Exception):
    """Raised by a hook to end a run once it has recorded what it needs."""


def _record_forward(model: nn.Module, seen: list, stop: bool = False) -> None:
    def hook(module, inputs):
        seen.append((inputs[0].device, next(module.parameters()).device, inputs[0]))
        if stop:
            raise _Stop

    model.register_forward_pre_hook(hook)


def _patch_get_device(monkeypatch, device: torch.device) -> None:
    import cnnbook.device

    monkeypatch.setattr(cnnbook.device, "get_device", lambda prefer=None: device)
    monkeypatch.setattr(training, "get_device", lambda prefer=None: device)


def test_evaluate_loss_accuracy_without_device_runs_where_the_model_is(toy, make_dl, monkeypatch):
    # Issue 12: on a CUDA machine the default device was CUDA and a CPU model crashed.
    _patch_get_device(monkeypatch, META)  # "the machine's best device" is now another one
    X, y = toy
    model = tiny_cnn().eval()
    loss, acc = training.evaluate_loss_accuracy(model, make_dl(X, y, 37))
    with torch.no_grad():
        logits = model(X)
    assert acc == pytest.approx((logits.argmax(1) == y).double().mean().item())
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert torch.equal(training.predict(model, X), logits.argmax(1))


@pytest.mark.parametrize("where,device", [("meta", "cpu"), ("cpu", "meta")])
def test_functions_that_do_not_move_a_model_say_so(toy, make_dl, where, device):
    X, y = toy
    model = tiny_cnn().to(where)
    dl = make_dl(X, y)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    match = f"model: its parameters are on {where}, expected {device} .*does not move a model"
    calls = [
        lambda: training.train_one_epoch(model, dl, opt, nn.CrossEntropyLoss(), device),
        lambda: training.evaluate(model, dl, device),
        lambda: training.evaluate_loss_accuracy(model, dl, device),
        lambda: training.predict(model, X, device),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()
    assert all(p.device.type == where for p in model.parameters())  # nothing was moved


def test_fit_moves_the_model_and_every_batch_to_its_device(toy, make_dl):
    X, y = toy
    model, seen = tiny_cnn(), []
    _record_forward(model, seen, stop=True)
    with pytest.raises(_Stop):
        training.fit(model, make_dl(X, y), epochs=1, device="meta", progress=False)
    assert seen[0][:2] == (META, META)
    assert all(p.device == META for p in model.parameters())


def test_fit_and_evaluate_over_a_device_loader_match_make_loader(toy, toy_images):
    from cnnbook import data

    X, y = toy
    Xv, yv = toy_images(96, seed=1)
    runs = []
    for device in (None, "cpu"):  # None: make_loader's DataLoader; "cpu": a DeviceLoader
        torch.manual_seed(0)
        model = tiny_cnn()
        train = data.make_loader(X, y, 32, shuffle=True, seed=4, device=device)
        val = data.make_loader(Xv, yv, 48, shuffle=False, device=device)
        h = training.fit(model, train, val, epochs=3, lr=3e-3, device="cpu", progress=False)
        runs.append((h.train_loss, h.val_loss, training.evaluate(model, val, "cpu")))
    assert isinstance(train, data.DeviceLoader)
    assert runs[1][0] == pytest.approx(runs[0][0], rel=1e-6)  # the same batches, in order
    assert runs[1][1] == pytest.approx(runs[0][1], rel=1e-6)
    assert runs[1][2] == runs[0][2]


def test_fit_uses_a_device_loaders_batches_without_copying(toy, monkeypatch):
    from cnnbook import data

    _patch_get_device(monkeypatch, torch.device("cpu"))
    X, y = toy
    loader = data.DeviceLoader(X, y, 64, shuffle=False, device=META)
    model, seen = tiny_cnn(), []
    _record_forward(model, seen, stop=True)
    with pytest.raises(_Stop):  # no device given: the loader's device, not get_device's
        training.fit(model, loader, epochs=1, progress=False)
    batch = seen[0][2]
    assert seen[0][:2] == (META, META)
    assert batch.untyped_storage().data_ptr() == loader.X.untyped_storage().data_ptr()


def test_a_device_loader_on_another_device_is_refused(toy, make_dl):
    from cnnbook import data

    X, y = toy
    on_meta = data.DeviceLoader(X, y, 64, device=META)
    match = "a device-resident loader with its data on meta, expected cpu"
    with pytest.raises(ValueError, match="train_loader: " + match):
        training.fit(tiny_cnn(), on_meta, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="val_loader: " + match):
        training.fit(tiny_cnn(), make_dl(X, y), on_meta, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="loader: " + match):
        training.evaluate(tiny_cnn(), on_meta, "cpu")


# --- mixed precision: the autocast path runs on the CPU too (fit itself uses it on CUDA) ------


def test_amp_dtype_is_bfloat16_where_supported_else_float16(monkeypatch):
    assert training._amp_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert training._amp_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert training._amp_dtype(torch.device("cuda")) == torch.float16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_the_autocast_path_learns_and_keeps_float32_weights(toy, make_dl, dtype):
    X, y = toy
    torch.manual_seed(0)
    model = tiny_cnn()
    reference = copy.deepcopy(model)
    out_dtypes = []
    model.register_forward_hook(lambda m, i, out: out_dtypes.append(out.dtype))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    # float16 needs loss scaling (its range is narrow); bfloat16 does not.
    scaler = torch.amp.GradScaler("cpu") if dtype == torch.float16 else None
    cpu, dl, ce = torch.device("cpu"), make_dl(X, y, 32, True), nn.CrossEntropyLoss()
    losses = [
        training._run_epoch(model, dl, ce, cpu, opt, scaler, autocast=dtype)[0] for _ in range(4)
    ]
    assert losses[-1] < 0.5 * losses[0]
    assert set(out_dtypes) == {dtype}  # the forward ran in low precision
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # The first epoch's mean loss is full precision's up to low-precision rounding.
    dl = make_dl(X, y, 32)  # not shuffled: both runs see the same batches
    full_model, low_model = copy.deepcopy(reference), copy.deepcopy(reference)
    full_opt = torch.optim.Adam(full_model.parameters(), lr=3e-3)
    low_opt = torch.optim.Adam(low_model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler("cpu") if dtype == torch.float16 else None
    full = training._run_epoch(full_model, dl, ce, cpu, full_opt)[0]
    low = training._run_epoch(low_model, dl, ce, cpu, low_opt, scaler, autocast=dtype)[0]
    assert low == pytest.approx(full, rel=0.05)
