"""Where fit's time goes on the compute device, and whether mixed precision pays off.

    PYTHONPATH=src python benchmarks/bench_amp.py [--n-train N] [--epochs E] [--batches 128 512]
                                                  [--save NAME]

For each batch size and each of three seeds (the initial weights and the shuffling), four ways
of training the reference CNN on the same data for the same epochs:

- bare loop: data on the device, ``torch.randperm`` on the device, ``X[idx]`` per batch
- bare loop over ``data.DeviceLoader`` batches (the loader's own cost)
- ``fit`` over the ``DeviceLoader`` (fit's bookkeeping: loss and accuracy sums, checks)
- the same with ``amp=True`` (bfloat16 autocast on CUDA; ignored with a warning elsewhere)

Prints seconds per epoch (median over the epochs after the first, which includes cuDNN's
algorithm search) and, per seed, each path's ratio to the bare loop and amp's ratio to full
precision; the summary gives the mean and the range over the seeds. Ratios come from one run.
``--save NAME`` also stores the seconds with their provenance as ``cnnbook.results`` NAME (chapter
6 shows the stored GPU run, ``gpu_speed``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

from cnnbook import data, results
from cnnbook.device import describe_device, get_device
from cnnbook.models import build_reference_cnn
from cnnbook.training import fit, set_seed

PATHS = ("bare loop", "bare loop over DeviceLoader", "fit over DeviceLoader", "fit, amp=True")


def _step(model, opt, loss_fn, X, y):
    loss = loss_fn(model(X), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def epoch_runner(path: str, X: torch.Tensor, y: torch.Tensor, batch: int, seed: int):
    """A callable that trains one epoch of ``model`` with ``opt`` along ``path``."""
    loader = data.DeviceLoader(X, y, batch_size=batch, seed=seed, device=X.device)
    loss_fn = nn.CrossEntropyLoss()

    def run(model, opt):
        if path == "bare loop":
            model.train()
            perm = torch.randperm(X.shape[0], device=X.device)
            for start in range(0, X.shape[0], batch):
                idx = perm[start : start + batch]
                _step(model, opt, loss_fn, X[idx], y[idx])
        elif path == "bare loop over DeviceLoader":
            model.train()
            for xb, yb in loader:
                _step(model, opt, loss_fn, xb, yb)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # amp on the CPU: said once in the header
                fit(model, loader, epochs=1, optimizer=opt, device=X.device,
                    amp=path.endswith("amp=True"), progress=False)  # fmt: skip

    return run


def seconds_per_epoch(path, X, y, batch, seed, epochs) -> float:
    set_seed(seed)
    model = build_reference_cnn().to(X.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    run = epoch_runner(path, X, y, batch, seed)
    times = []
    for _ in range(epochs):
        if X.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run(model, opt)
        if X.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:] if len(times) > 1 else times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3, help="per path and seed; >= 2")
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--save", default=None, help="store the run as cnnbook.results NAME")
    args = parser.parse_args()
    began = time.perf_counter()
    device = get_device()
    X, y = data.load("stroke-digits", "train", n=args.n_train, seed=0)
    X, y = torch.as_tensor(X).to(device), torch.as_tensor(y).to(device)
    amp = "bfloat16 autocast" if device.type == "cuda" else "ignored here"
    print(f"device: {describe_device(device)}; torch {torch.__version__}; "
          f"{args.n_train} stroke-digits; {args.epochs} epochs per run (the first not counted); "
          f"seeds 0..{args.seeds - 1}; amp is {amp}")  # fmt: skip
    seeds = ", ".join(str(s) for s in range(args.seeds))
    print(f"\n| batch | path | s/epoch (seed {seeds}) | vs bare loop: mean [min, max] |")
    print("|---:|---|---|---|")
    amp_lines, stored = [], {}
    for batch in args.batches:
        secs = {p: [seconds_per_epoch(p, X, y, batch, s, args.epochs) for s in range(args.seeds)]
                for p in PATHS}  # fmt: skip
        stored[str(batch)] = secs
        for p in PATHS:
            ratios = [t / b for t, b in zip(secs[p], secs["bare loop"], strict=True)]
            spread = f"{statistics.mean(ratios):.2f}x [{min(ratios):.2f}, {max(ratios):.2f}]"
            print(f"| {batch} | {p} | {', '.join(f'{t:.3f}' for t in secs[p])} | {spread} |")
        amp = [a / f for a, f in zip(secs["fit, amp=True"], secs["fit over DeviceLoader"],
                                     strict=True)]  # fmt: skip
        amp_lines.append(
            f"| {batch} | {statistics.mean(amp):.2f}x [{min(amp):.2f}, {max(amp):.2f}] |"
        )
    print("\n| batch | amp=True vs full precision (fit): mean [min, max] over seeds |")
    print("|---:|---|")
    print("\n".join(amp_lines))
    if args.save:
        data_ = {"n_train": args.n_train, "epochs": args.epochs, "paths": list(PATHS),
                 "seconds_per_epoch": stored}  # fmt: skip
        prov = results.provenance(seeds=range(args.seeds), seconds=time.perf_counter() - began,
                                  script="benchmarks/bench_amp.py")  # fmt: skip
        print("stored in", results.save(args.save, data_, prov))


if __name__ == "__main__":
    main()
