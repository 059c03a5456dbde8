"""Chapter 6: weight decay, dropout, augmentation and early stopping, each over three seeds.

Every setting trains the chapter's small CNN (54,410 weights) on 300 typed digits for the same
number of epochs with SGD + momentum 0.9. The learning rate is chosen for the unregularised
baseline (the best mean validation accuracy of a small grid) and then used for every setting, so
the comparison, if anything, favours the baseline.
Writes ``src/cnnbook/results/ch6_regularization.json``.

Run from the repository root (a few minutes on two CPU cores):

    OMP_NUM_THREADS=1 .venv/bin/python scripts/experiments/ch6_regularization.py
"""

from __future__ import annotations

import time

import torch

from cnnbook import results
from cnnbook.experiments.regularization import glyph_splits, summarise, train_run

SEEDS = (0, 1, 2)
EPOCHS = 20
PATIENCE = 5
LR_GRID = (0.01, 0.03, 0.1)
WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
DROPOUTS = (0.0, 0.25, 0.5)
SHIFTS = (0, 1, 2)
KEYS = ("train_acc", "val_acc_final", "val_loss_final", "test_acc")


def runs_of(splits, lr, **setting) -> list[dict]:
    return [
        train_run(
            splits["train"], splits["val"], splits["test"], epochs=EPOCHS, lr=lr, seed=s, **setting
        )
        for s in SEEDS
    ]


def summary(runs: list[dict]) -> dict:
    return {key: summarise([r[key] for r in runs]) for key in KEYS}


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    splits = glyph_splits()
    lr_runs = {lr: runs_of(splits, lr) for lr in LR_GRID}
    lr = max(LR_GRID, key=lambda v: summarise([r["val_acc_final"] for r in lr_runs[v]])["mean"])
    print(f"learning rate for every setting: {lr}", flush=True)
    settings: dict[str, dict] = {}

    def record(name: str, runs: list[dict], **setting) -> None:
        settings[name] = {"setting": setting, "summary": summary(runs), "runs": runs}
        s = settings[name]["summary"]
        print(
            f"{name:28s} train {s['train_acc']['mean']:.3f} val {s['val_acc_final']['mean']:.3f}"
            f" +- {s['val_acc_final']['std']:.3f}  test {s['test_acc']['mean']:.3f}",
            flush=True,
        )

    baseline = lr_runs[lr]
    record("baseline", baseline)
    for wd in WEIGHT_DECAYS[1:]:
        record(f"weight_decay={wd:g}", runs_of(splits, lr, weight_decay=wd), weight_decay=wd)
    for p in DROPOUTS[1:]:
        record(f"dropout={p:g}", runs_of(splits, lr, dropout=p), dropout=p)
    for shift in SHIFTS[1:]:
        record(f"shift={shift}", runs_of(splits, lr, shift=shift), shift=shift)
    stopped = runs_of(splits, lr, early_stopping_patience=PATIENCE)
    record("early_stopping", stopped, early_stopping_patience=PATIENCE)

    data = {
        "dataset": "glyph-digits",
        "model": "small_cnn (Conv 1->32 3x3, ReLU, MaxPool 2, [Dropout], Linear 5408->10)",
        "n_train": len(splits["train"][1]),
        "n_val": len(splits["val"][1]),
        "n_test": len(splits["test"][1]),
        "epochs": EPOCHS,
        "batch_size": 32,
        "momentum": 0.9,
        "patience": PATIENCE,
        "lr_grid": {f"{v:g}": summarise([r["val_acc_final"] for r in lr_runs[v]]) for v in LR_GRID},
        "lr": lr,
        "weight_decays": list(WEIGHT_DECAYS),
        "dropouts": list(DROPOUTS),
        "shifts": list(SHIFTS),
        "settings": settings,
    }
    prov = results.provenance(
        seeds=SEEDS,
        seconds=time.perf_counter() - start,
        script="scripts/experiments/ch6_regularization.py",
        device="cpu (1 thread)",
    )
    path = results.save("ch6_regularization", data, prov)
    print(f"wrote {path} in {prov['seconds']:.0f} s")


if __name__ == "__main__":
    main()
