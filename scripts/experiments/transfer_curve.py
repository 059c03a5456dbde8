"""Chapter 7's learning curve: scratch vs feature extraction vs fine-tuning over labelled-set sizes.

Run: OMP_NUM_THREADS=1 .venv/bin/python scripts/experiments/transfer_curve.py
     (about 5 minutes on one CPU core; --quick for a reduced run that saves nothing)

For every labelled-set size (letters per class of "glyph-letters"), strategy, learning rate of
the grid and seed, ``cnnbook.transfer.transfer_run`` trains the batch-norm reference network to
convergence (the same budget of Adam updates for every strategy: 30 passes over the labelled
set, clipped to [100, 300] updates) and records validation, test and training accuracy. Each
strategy's learning rate is chosen per size by its mean validation accuracy over the seeds (500
held-out training images, never used for training), so each gets the same tuning effort; the
test accuracies at that rate are the learning curve. Saved to
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
    """Every (size, strategy, lr, seed) run, and the per-strategy choice of lr at each size."""
    runs = []
    for size in sizes:
        for strategy in STRATEGIES:
            for lr in lrs:
                for seed in seeds:
                    r = transfer_run(size, strategy, lr=lr, seed=seed, **kwargs)
                    runs.append({"size": size, "strategy": strategy, "lr": lr, "seed": seed, **r})
                    print(f"{size:>3} {strategy:<19} lr {lr:g} seed {seed}: "
                          f"val {r['val_acc']:.3f} test {r['test_acc']:.3f} "
                          f"train {r['train_acc']:.3f}", flush=True)  # fmt: skip
    return {"sizes": list(sizes), "seeds": list(seeds), "lrs": list(lrs), "runs": runs,
            "curve": summarise(runs, sizes, lrs)}  # fmt: skip


def summarise(runs: list[dict], sizes, lrs) -> dict:
    """strategy -> {"lr": best lr per size, "test": test accuracies (size x seed)}."""
    curve = {}
    for strategy in STRATEGIES:
        best_lrs, tests = [], []
        for size in sizes:

            def cell(lr, key, size=size, strategy=strategy):
                return [r[key] for r in runs
                        if (r["size"], r["strategy"], r["lr"]) == (size, strategy, lr)]  # fmt: skip

            best = max(lrs, key=lambda lr: np.mean(cell(lr, "val_acc")))
            best_lrs.append(best)
            tests.append(cell(best, "test_acc"))
        curve[strategy] = {"lr": best_lrs, "test": tests}
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
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
