"""Transfer learning benchmark of chapter 7, printed as a table.

Run: .venv/bin/python benchmarks/bench_transfer.py [--sizes 10 30 100] [--seeds 0 1 2]

Source: the shipped network (cnnbook.transfer.load_pretrained), trained on "glyph-digits".
Target: "glyph-letters" (ten letters A-J) with only a few labelled examples per class. For each
labelled-set size and seed, cnnbook.transfer.transfer_experiment trains three ways with the same
data and the same number of updates: from scratch, feature extraction (frozen base, new head) and
fine-tuning (new head, base at a tenth of the learning rate), and measures test accuracy.
Target: at the smallest size, the better transfer strategy beats scratch by >= 10 points on
average over the seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cnnbook.device import describe_device
from cnnbook.transfer import STRATEGIES, pretrained_info, transfer_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = pretrained_info()
    print(f"device: {describe_device(torch.device('cpu'))}, torch {torch.__version__}")
    print(
        f"source: {info['source_task']['dataset']}, test accuracy "
        f"{info['source_test_accuracy']:.4f}; target: glyph-letters, {args.n_test} test images"
    )
    start = time.perf_counter()
    table: dict[int, dict[str, list[float]]] = {}
    for size in args.sizes:
        table[size] = {s: [] for s in STRATEGIES}
        for seed in args.seeds:
            result = transfer_experiment(size, seed, n_test=args.n_test)
            for strategy, acc in result.items():
                table[size][strategy].append(acc)
    seconds = time.perf_counter() - start

    print(f"\ntest accuracy, mean +- std over seeds {args.seeds}")
    print(f"{'per class':>9}" + "".join(f"{s:>22}" for s in STRATEGIES))
    for size, row in table.items():
        cells = "".join(
            f"{np.mean(v):>15.3f} +- {np.std(v):.3f}" for v in (row[s] for s in STRATEGIES)
        )
        print(f"{size:>9}{cells}")
    smallest = table[min(table)]
    scratch = np.mean(smallest["scratch"])
    best_name = max(STRATEGIES[1:], key=lambda s: np.mean(smallest[s]))
    gain = 100 * (np.mean(smallest[best_name]) - scratch)
    print(
        f"\nat {min(table)} per class: {best_name} beats scratch by {gain:.1f} points "
        f"(target >= 10); total time {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
