"""Is "stroke-digits" a good teaching dataset? Measures what the data chapter promises.

Trains, on the same CPU budget, the reference CNN of the syllabus and an MLP with about as many
parameters, then prints their test accuracy, and their accuracy on test images shifted by a few
pixels. Targets: CNN >= 98.5% within 60 s of training (2 threads); MLP at least 3 points below;
shifts hurt the MLP far more than the CNN. Timings depend on the load of the machine.

    .venv/bin/python benchmarks/bench_dataset_difficulty.py [--budget 60] [--dataset stroke-digits]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from cnnbook import data, models


def reference_cnn() -> nn.Module:
    """The reference CNN of the syllabus (421,642 parameters)."""
    return models.build_reference_cnn()


def mlp() -> nn.Module:
    """One hidden layer of 530 units: 421,360 parameters, as many as the reference CNN."""
    return models.build_mlp(530, num_hidden=1)


def shift(X: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Move images by (rows, cols) pixels, filling with zeros (no wrap-around)."""
    padded = F.pad(X, (max(cols, 0), max(-cols, 0), max(rows, 0), max(-rows, 0)))
    h, w = X.shape[-2:]
    top, left = max(-rows, 0), max(-cols, 0)
    return padded[..., top : top + h, left : left + w]


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(
        (model(X[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
        for i in range(0, len(y), 1000)
    )
    return correct / len(y)


def train(model: nn.Module, X, y, Xt, yt, budget: float, max_epochs: int, seed: int, clock):
    """Adam, batch 128, until the time budget or max_epochs is spent; prints test accuracy after
    every epoch (evaluation time not counted). Returns (epochs, training seconds)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = data.make_loader(X, y, batch_size=128, shuffle=True, seed=seed)
    seconds, epochs = 0.0, 0
    while seconds < budget and epochs < max_epochs:
        model.train()
        start = clock()
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            if seconds + clock() - start >= budget:
                break  # budget spent in the middle of an epoch: stop here
        seconds += clock() - start
        epochs += 1
        print(f"  epoch {epochs}: {seconds:5.1f} s, test {accuracy(model, Xt, yt):.2%}", flush=True)
    return epochs, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="stroke-digits")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per model")
    parser.add_argument("--epochs", type=int, default=1000, help="stop after this many epochs")
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument(
        "--style", nargs="*", default=[], help="style overrides of the dataset's generator: k=v"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["cnn", "mlp"], choices=["cnn", "mlp"])
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="budget in wall seconds, or in CPU seconds of this process divided by --threads "
        "(an estimate of the wall time on an idle machine; use it when the machine is shared "
        "and busy, where wall time measures the other jobs as much as this one)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "wall":
        clock = time.perf_counter
    else:  # CPU seconds per thread: what the wall clock would read on an idle machine, about

        def clock() -> float:
            return time.process_time() / args.threads

    print(f"{args.threads} thread(s), {args.clock} clock, load average {os.getloadavg()[0]:.1f}")

    start = time.perf_counter()
    if args.style:  # try other difficulty settings without touching the package defaults
        X, y, style = data.load_styled(args.dataset, "train", args.n_train, args.style, args.seed)
        Xt, yt, _ = data.load_styled(args.dataset, "test", 5000, args.style, args.seed)
        print(style)
    else:
        X, y = data.load(args.dataset, "train", n=args.n_train, seed=args.seed, as_tensor=True)
        Xt, yt = data.load(args.dataset, "test", seed=args.seed, as_tensor=True)
    print(
        f"generated {len(y)} train + {len(yt)} test images in {time.perf_counter() - start:.1f} s"
    )

    shifts = [(0, 3), (3, 0), (0, -3), (-3, 0), (2, 2), (-2, -2), (2, -2), (-2, 2)]
    results = {}
    for label, build in (("cnn", reference_cnn), ("mlp", mlp)):
        if label not in args.models:
            continue
        torch.manual_seed(args.seed)
        model = build()
        print(label, flush=True)
        epochs, seconds = train(model, X, y, Xt, yt, args.budget, args.epochs, args.seed, clock)
        clean = accuracy(model, Xt, yt)
        shifted = sum(accuracy(model, shift(Xt, r, c), yt) for r, c in shifts) / len(shifts)
        params = sum(p.numel() for p in model.parameters())
        results[label] = (clean, shifted)
        print(
            f"{label}: {params:,} params, {epochs} epochs in {seconds:.0f} {args.clock} s, "
            f"test {clean:.2%}, shifted test (3 px) {shifted:.2%}, drop {clean - shifted:.2%}"
        )
    if len(results) < 2:
        return
    (cnn, cnn_shift), (mlp_acc, mlp_shift) = results["cnn"], results["mlp"]
    print(f"CNN >= 98.5%: {cnn >= 0.985}  ({cnn:.2%})")
    print(f"MLP at least 3 points below the CNN: {cnn - mlp_acc >= 0.03}  ({cnn - mlp_acc:.2%})")
    ratio = (mlp_acc - mlp_shift) / max(cnn - cnn_shift, 1e-4)
    print(f"shift hurts the MLP {ratio:.1f}x more than the CNN")


if __name__ == "__main__":
    main()
