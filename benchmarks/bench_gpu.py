"""Training speed of the reference CNN on the compute device: fit and its loaders vs a bare loop.

Run on a GPU machine (the numbers of issue 12):

    PYTHONPATH=src python benchmarks/bench_gpu.py --write

It runs on the CPU too, on a smaller dataset (it says so): ``--device cpu``. Paths, all with the
reference CNN, Adam (lr 1e-3), the same initial weights and data:

- bare loop: data on the device, one ``randperm`` per epoch, ``X[idx]`` per batch (batch 128, 512)
- ``fit`` over ``data.make_loader`` (a CPU ``DataLoader``; batches copied to the device), batch 128
- the same with ``amp=True``
- ``fit`` over ``data.DeviceLoader`` (data on the device), batch 128, 256, 512, and 128 with amp
- on the CPU also: the bare loop under bfloat16 autocast (the measurement behind ``fit`` ignoring
  ``amp`` on the CPU)

For each path: seconds per training epoch (median over the epochs run; validation excluded), the
ratio to the bare loop at the same batch size (128 for the loaders), the training time until the
test accuracy first reaches 98.5 % (evaluated after every epoch, evaluation time excluded), and
peak memory (``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the process's peak resident
set size, which only grows, so it is printed once). All ratios come from one run on one machine.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cnnbook import data
from cnnbook.device import describe_device, get_device
from cnnbook.models import build_reference_cnn
from cnnbook.training import _amp_dtype, evaluate, fit, set_seed

TARGET = 0.985
SECTION = {"cuda": "bench_gpu cuda", "cpu": "bench_gpu cpu"}


@dataclass
class Path:
    name: str
    batch_size: int
    bare_batch: int  # the bare loop it is compared with
    run_epoch: Callable[[nn.Module, torch.optim.Optimizer, int], None] = field(repr=False)
    epoch_s: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    time_to_target: float | None = None
    peak_mb: float | None = None

    @property
    def s_per_epoch(self) -> float:
        return statistics.median(self.epoch_s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(X: torch.Tensor, y: torch.Tensor, batch: int, autocast: torch.dtype | None):
    """The fastest honest loop: data already on the device, nothing but the step per batch."""
    device, n = X.device, X.shape[0]
    loss_fn = nn.CrossEntropyLoss()

    def run(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> None:
        model.train()
        perm = torch.randperm(n, device=device)
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            ctx = torch.autocast(device.type, dtype=autocast) if autocast else nullcontext()
            with ctx:
                loss = loss_fn(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def fit_path(loader, device: torch.device, amp: bool):
    """One ``fit`` epoch per call, continuing with the same optimizer (so its state carries)."""

    def run(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> None:
        fit(model, loader, epochs=1, optimizer=opt, device=device, amp=amp, progress=False)

    return run


def measure(
    path: Path,
    clock: Callable[[], float],
    device: torch.device,
    test_loader,
    epochs: int,
    warmup_batches: int,
    X: torch.Tensor,
    y: torch.Tensor,
) -> None:
    set_seed(0)
    model = build_reference_cnn().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Warm-up on a throw-away copy: cuDNN's algorithm choice, allocator, lazy initialisation.
    warm = build_reference_cnn().to(device)
    warm_opt = torch.optim.Adam(warm.parameters(), lr=1e-3)
    bare_loop(X[: warmup_batches * path.batch_size], y[: warmup_batches * path.batch_size],
              path.batch_size, None)(warm, warm_opt, 0)  # fmt: skip
    del warm, warm_opt
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    elapsed = 0.0
    for epoch in range(epochs):
        _sync(device)
        start = clock()
        path.run_epoch(model, opt, epoch)
        _sync(device)
        seconds = clock() - start
        path.epoch_s.append(seconds)
        elapsed += seconds
        acc = evaluate(model, test_loader, device)
        path.accuracy.append(acc)
        if path.time_to_target is None and acc >= TARGET:
            path.time_to_target = elapsed
        print(f"  {path.name}: epoch {epoch + 1} {seconds:.2f} s, test accuracy {acc:.4f}",
              flush=True)  # fmt: skip
    if device.type == "cuda":
        path.peak_mb = torch.cuda.max_memory_allocated(device) / 2**20


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def table(paths: list[Path], device: torch.device) -> str:
    bare = {p.batch_size: p.s_per_epoch for p in paths if p.name.startswith("bare loop, ")}
    lines = [
        "| path | batch | s/epoch | vs bare loop | time to 98.5% test acc. | best test acc. | "
        "peak GPU memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in paths:
        ref = bare.get(p.bare_batch)
        ratio = f"{p.s_per_epoch / ref:.2f}x (bare {p.bare_batch})" if ref else "-"
        reached = (
            f"{p.time_to_target:.1f} s" if p.time_to_target is not None
            else f"not in {len(p.epoch_s)} epochs"
        )  # fmt: skip
        memory = f"{p.peak_mb:.0f} MiB" if p.peak_mb is not None else "n/a (CPU)"
        lines.append(
            f"| {p.name} | {p.batch_size} | {p.s_per_epoch:.3f} | {ratio} | {reached} | "
            f"{max(p.accuracy):.4f} | {memory} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: cnnbook.device.get_device()")
    parser.add_argument("--n-train", type=int, default=None, help="default 60000 GPU, 6000 CPU")
    parser.add_argument("--n-test", type=int, default=None, help="default 10000 GPU, 2000 CPU")
    parser.add_argument("--epochs", type=int, default=None, help="per path; default 8 GPU, 2 CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch threads; CPU default 1")
    parser.add_argument("--write", action="store_true", help="write the table to RESULTS.md")
    args = parser.parse_args()
    device = get_device(args.device)
    on_gpu = device.type == "cuda"
    if args.threads is not None or not on_gpu:
        torch.set_num_threads(args.threads or 1)
    # GPU: wall clock (synchronised). CPU: the process's CPU time, which other processes on a
    # shared machine do not inflate by preempting this one.
    clock = time.perf_counter if on_gpu else time.process_time
    clock_name = "wall clock" if on_gpu else "CPU time of the process (time.process_time)"
    n_train = args.n_train or (60000 if on_gpu else 6000)
    n_test = args.n_test or (10000 if on_gpu else 2000)
    epochs = args.epochs or (8 if on_gpu else 2)
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    scale = "full size" if on_gpu else "SMALLER dataset than on a GPU (CPU run)"
    print(f"device: {describe_device(device)}; {scale}: stroke-digits {n_train} train, "
          f"{n_test} test, {epochs} epochs per path", flush=True)  # fmt: skip

    X, y = data.load("stroke-digits", "train", n=n_train, seed=0, as_tensor=True)
    Xt, yt = data.load("stroke-digits", "test", n=n_test, seed=0, as_tensor=True)
    Xd, yd = X.to(device), y.to(device)
    test_loader = data.DeviceLoader(Xt, yt, 1000, shuffle=False, device=device)
    amp_dtype = _amp_dtype(device)

    paths = [
        Path("bare loop, data on the device", 128, 128, bare_loop(Xd, yd, 128, None)),
        Path("bare loop, data on the device", 512, 512, bare_loop(Xd, yd, 512, None)),
        Path("fit over data.make_loader", 128, 128,
             fit_path(data.make_loader(X, y, 128, seed=0), device, False)),
        Path("fit over data.make_loader, amp=True", 128, 128,
             fit_path(data.make_loader(X, y, 128, seed=0), device, True)),
    ]  # fmt: skip
    for batch in (128, 256, 512):
        loader = data.DeviceLoader(X, y, batch, seed=0, device=device)
        paths.append(Path("fit over data.DeviceLoader", batch, batch if batch != 256 else 128,
                          fit_path(loader, device, False)))  # fmt: skip
    loader = data.DeviceLoader(X, y, 128, seed=0, device=device)
    paths.append(Path("fit over data.DeviceLoader, amp=True", 128, 128,
                      fit_path(loader, device, True)))  # fmt: skip
    if not on_gpu:
        paths.append(Path("bare loop under bfloat16 autocast (CPU)", 128, 128,
                          bare_loop(Xd, yd, 128, torch.bfloat16)))  # fmt: skip

    for path in paths:
        print(f"{path.name}, batch {path.batch_size}", flush=True)
        with_amp = "amp=True" in path.name
        if with_amp and amp_dtype is None:
            print("  (amp=True is a no-op here: fit trains in float32 on this device)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit's "amp ignored on CPU" warning, said above
            measure(path, clock, device, test_loader, epochs, 5, Xd, yd)

    versions = (
        f"torch {torch.__version__}, numpy {np.__version__}, Python {platform.python_version()}"
    )
    if on_gpu:
        versions += f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    amp_note = (
        f"amp=True autocasts to {str(amp_dtype).removeprefix('torch.')}"
        if amp_dtype is not None
        else "amp=True is ignored by fit on this device (float32)"
    )
    header = [
        f"## Training speed on {device.type.upper()} (`benchmarks/bench_gpu.py`)",
        "",
        "Written by `benchmarks/bench_gpu.py --write`; do not edit by hand.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- device: {describe_device(device)}; {platform.machine()}; {versions}",
        f"- data: stroke-digits, {n_train} training and {n_test} test images ({scale}); "
        f"reference CNN, Adam lr 1e-3, {epochs} epochs per path, the same initial weights",
        f"- {amp_note}",
        f"- s/epoch: {clock_name}, median over the epochs (training only); 'vs bare loop': "
        "ratio to the bare loop at the batch size in brackets, measured in this run",
    ]
    if not on_gpu:
        header.append(
            f"- peak memory: no GPU; the process's peak resident set size was "
            f"{_peak_rss_mb():.0f} MiB (for all paths together)"
        )
        header.append(
            "- the machine is shared with other processes: compare the ratios, not the seconds"
        )
    text = "\n".join(header) + "\n\n" + table(paths, device) + "\n"
    print()
    print(text)
    if args.write:
        from _results import write_section

        write_section(SECTION.get(device.type, f"bench_gpu {device.type}"), text)
        print("written to benchmarks/RESULTS.md")
    if not math.isfinite(sum(p.s_per_epoch for p in paths)):
        raise SystemExit("a path did not run")


if __name__ == "__main__":
    main()
