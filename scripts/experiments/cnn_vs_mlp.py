"""Chapter 1's comparison: the reference CNN against an MLP with as many parameters.

Run: OMP_NUM_THREADS=1 .venv/bin/python scripts/experiments/cnn_vs_mlp.py
     (4-5 minutes on one CPU core of a busy 2-core machine;
     --quick for a reduced run that saves nothing)

Both networks get the same data ("stroke-digits": 8,000 training images, 1,000 validation
images from the same split, 2,000 test images), the same optimiser (Adam, cosine schedule to 0),
the same budget (``--epochs`` passes, batch 64) and the same tuning effort: each learning rate
of ``--lrs`` is tried with the first seed, the one with the best final validation accuracy is
chosen, and the other seeds are run at that rate. The test accuracies at the chosen rate, over
all seeds, are reported. As a check that the
budget does not hold the MLP back, the MLP is also trained four times as long at its chosen rate.
Saved to src/cnnbook/results/cnn_vs_mlp.json with its provenance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cnnbook import data, results
from cnnbook.models import build_mlp, build_reference_cnn, count_parameters, mlp_width_for_params
from cnnbook.training import evaluate, fit, set_seed

NAME = "cnn_vs_mlp"
DATASET = "stroke-digits"


def load_splits(n_train: int, n_val: int, n_test: int, seed: int = 0) -> dict:
    """Training and validation images from the training split, test images from the test split."""
    X, y = data.load(DATASET, "train", n=n_train + n_val, seed=seed, as_tensor=True)
    X_test, y_test = data.load(DATASET, "test", n=n_test, seed=seed, as_tensor=True)
    return {"train": (X[:n_train], y[:n_train]), "val": (X[n_train:], y[n_train:]),
            "test": (X_test, y_test)}  # fmt: skip


def builders() -> dict:
    """name -> a function building the network; the MLP's width matches the CNN's parameters."""
    width = mlp_width_for_params(count_parameters(build_reference_cnn()), num_hidden=1)
    return {"CNN": build_reference_cnn, "MLP": lambda: build_mlp(width, num_hidden=1)}


def train_and_score(
    name: str, splits: dict, lr: float, seed: int, epochs: int, stop_after: int | None = None
) -> dict:
    """One run: validation accuracy per epoch, final test accuracy, seconds.

    Adam at ``lr`` with a cosine decay to 0 over ``epochs``; ``stop_after`` ends the run after
    that many epochs of the same schedule (the tests re-run the first epoch of a stored run).
    """
    set_seed(seed)
    model = builders()[name]()
    train = data.make_loader(*splits["train"], batch_size=64, shuffle=True, seed=seed)
    val = data.make_loader(*splits["val"], batch_size=1000, shuffle=False)
    test = data.make_loader(*splits["test"], batch_size=1000, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    start = time.perf_counter()
    history = fit(model, train, val, epochs=stop_after or epochs, optimizer=optimizer,
                  scheduler=schedule, device="cpu", seed=seed, progress=False)  # fmt: skip
    return {"val_acc": [float(a) for a in history.val_acc],
            "test_acc": float(evaluate(model, test, "cpu")),
            "seconds": time.perf_counter() - start}  # fmt: skip


def run(splits: dict, lrs, seeds, epochs: int, long_factor: int = 4) -> dict:
    runs = []

    def one(name, lr, seed, epochs=epochs, label=None):
        r = train_and_score(name, splits, lr, seed, epochs)
        runs.append({"model": label or name, "lr": lr, "seed": seed, "epochs": epochs, **r})
        print(f"{label or name} lr {lr:g} seed {seed}: val {r['val_acc'][-1]:.4f} "
              f"test {r['test_acc']:.4f} ({r['seconds']:.0f} s)", flush=True)  # fmt: skip

    best = {}
    for name in builders():
        for lr in lrs:  # tuning: every rate with the first seed
            one(name, lr, seeds[0])
        best[name] = choose_lr(runs, name, lrs)
        for seed in seeds[1:]:
            one(name, best[name], seed)
    for seed in seeds:  # the check: the MLP, at its chosen rate, trained long_factor times longer
        one("MLP", best["MLP"], seed, long_factor * epochs, "MLP (long)")
    params = {name: count_parameters(build()) for name, build in builders().items()}
    return {"dataset": DATASET, "n": {k: len(v[1]) for k, v in splits.items()}, "epochs": epochs,
            "batch_size": 64, "lrs": list(lrs), "best_lr": best, "params": params,
            "runs": runs}  # fmt: skip


def choose_lr(runs: list[dict], model: str, lrs) -> float:
    """The learning rate with the highest mean final validation accuracy of its runs."""

    def mean_val(lr):
        return np.mean([r["val_acc"][-1] for r in runs if (r["model"], r["lr"]) == (model, lr)])

    return max(lrs, key=mean_val)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2, 3e-2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small data, one seed; save nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [0] if args.quick else args.seeds
    splits = load_splits(*((1000, 500, 500) if args.quick else (8000, 1000, 2000)))
    start = time.perf_counter()
    result = run(splits, args.lrs, seeds, args.epochs)
    seconds = time.perf_counter() - start
    for name in ("CNN", "MLP", "MLP (long)"):
        lr = result["best_lr"]["MLP" if name.startswith("MLP") else name]
        tests = [r["test_acc"] for r in result["runs"] if (r["model"], r["lr"]) == (name, lr)]
        print(f"{name:<11} lr {lr:g}: test {np.mean(tests):.4f} +- {np.std(tests):.4f}")
    if not args.quick:
        prov = results.provenance(seeds=seeds, seconds=seconds, script=__file__, device="cpu")
        print("saved", results.save(NAME, result, prov))


if __name__ == "__main__":
    main()
