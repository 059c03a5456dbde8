"""Chapter 7's learning curve: scratch vs feature extraction vs fine-tuning over labelled-set sizes.

Run: OMP_NUM_THREADS=1 .venv/bin/python scripts/experiments/transfer_curve.py
     (5-6 minutes on one CPU core of a busy 2-core machine;
     --quick for a reduced run that saves nothing)

For every labelled-set size (letters per class of "glyph-letters") and strategy,
``cnnbook.transfer.transfer_run`` trains the batch-norm reference network to
convergence (the same budget of Adam updates for every strategy: 30 passes over the labelled
set, clipped to [100, 300] updates) and records validation, test and training accuracy. Each
strategy gets the same tuning effort: at every size, each rate of ``--lrs`` is tried with the
first seed, the rate with the best validation accuracy (500 held-out training images, never
trained on) is chosen, and the other seeds are run at that rate. The test accuracies at the
chosen rates, over all seeds, are the learning curve. Saved to
src/cnnbook/results/transfer_curve.json with its provenance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cnnbook import results
from cnnbook.transfer import STRATEGIES, transfer_run

NAME = "transfer_curve"


def run(sizes, seeds, lrs, **kwargs) -> dict:
    """The runs of every (size, strategy): the grid of ``lrs`` on the first seed, then the
    other seeds at the rate that gave that seed the best validation accuracy."""
    runs = []

    def one(size, strategy, lr, seed):
        start = time.perf_counter()
        r = transfer_run(size, strategy, lr=lr, seed=seed, **kwargs)
        r["seconds"] = round(time.perf_counter() - start, 2)
        runs.append({"size": size, "strategy": strategy, "lr": lr, "seed": seed, **r})
        print(f"{size:>3} {strategy:<19} lr {lr:g} seed {seed}: "
              f"val {r['val_acc']:.3f} test {r['test_acc']:.3f} "
              f"train {r['train_acc']:.3f} ({r['seconds']:.0f} s)", flush=True)  # fmt: skip

    for size in sizes:
        for strategy in STRATEGIES:
            for lr in lrs:  # tuning: every rate with the first seed
                one(size, strategy, lr, seeds[0])
            best = choose_lr(runs, size, strategy, lrs, seeds[0])
            for seed in seeds[1:]:
                one(size, strategy, best, seed)
    return {"sizes": list(sizes), "seeds": list(seeds), "lrs": list(lrs), "runs": runs,
            "curve": summarise(runs, sizes, lrs, seeds[0])}  # fmt: skip


def choose_lr(runs: list[dict], size: int, strategy: str, lrs, tune_seed: int) -> float:
    """The rate of ``lrs`` whose run with ``tune_seed`` has the best validation accuracy."""

    def val(lr):
        return max(r["val_acc"] for r in runs
                   if (r["size"], r["strategy"], r["lr"], r["seed"])
                   == (size, strategy, lr, tune_seed))  # fmt: skip

    return max(lrs, key=val)


def summarise(runs: list[dict], sizes, lrs, tune_seed: int) -> dict:
    """strategy -> {"lr": chosen rate per size, "test": test accuracies (size x seed)}."""
    curve = {}
    for strategy in STRATEGIES:
        best_lrs, tests = [], []
        for size in sizes:
            best = choose_lr(runs, size, strategy, lrs, tune_seed)
            best_lrs.append(best)
            chosen = [
                r for r in runs if (r["size"], r["strategy"], r["lr"]) == (size, strategy, best)
            ]
            tests.append([r["test_acc"] for r in sorted(chosen, key=lambda r: r["seed"])])
        curve[strategy] = {"lr": best_lrs, "test": tests}
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
    )
    parser.add_argument("--quick", action="store_true", help="one size, one seed; save nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes, seeds = ([5], [0]) if args.quick else (args.sizes, args.seeds)
    start = time.perf_counter()
    data = run(sizes, seeds, args.lrs)
    seconds = time.perf_counter() - start
    for strategy, c in data["curve"].items():
        means = [f"{np.mean(t):.3f}" for t in c["test"]]
        print(f"{strategy:<19} best lr {c['lr']}  mean test {means}")
    if not args.quick:
        prov = results.provenance(seeds=seeds, seconds=seconds, script=__file__, device="cpu")
        print("saved", results.save(NAME, data, prov))


if __name__ == "__main__":
    main()
