"""Profile one training epoch of the reference CNN along the paths of bench_amp.py.

    cd benchmarks && PYTHONPATH=../src:. python profile_epoch.py [--batch 512] [--n-train 20000]

For each path: the epoch's wall time, the number of kernel launches and CUDA memory copies, and
the operators that take the most CPU time. It answers where the time of a launch-bound step goes
(on the CPU, kernel launches are the runtime's cudaLaunchKernel calls).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from cnnbook import data
from cnnbook.device import get_device
from cnnbook.models import build_reference_cnn
from cnnbook.training import set_seed

# run from benchmarks/ (or with it on PYTHONPATH): the paths are bench_amp.py's
from bench_amp import PATHS, epoch_runner  # isort: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    device = get_device()
    X, y = data.load("stroke-digits", "train", n=args.n_train, seed=0)
    X, y = torch.as_tensor(X).to(device), torch.as_tensor(y).to(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for path in PATHS[:3]:
        set_seed(0)
        model = build_reference_cnn().to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = epoch_runner(path, X, y, args.batch, 0)
        run(model, opt)  # warm-up epoch
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            run(model, opt)
            if device.type == "cuda":
                torch.cuda.synchronize()
        wall = time.perf_counter() - start
        events = prof.key_averages()
        launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel",
                                                            "cudaLaunchKernelExC"))  # fmt: skip
        copies = sum(e.count for e in events if e.key.startswith("cudaMemcpy"))
        syncs = sum(e.count for e in events if "Synchronize" in e.key)
        counts = f"{launches} kernel launches, {copies} memcpy calls, {syncs} synchronize calls"
        print(f"\n=== {path}, batch {args.batch}: {wall:.3f} s profiled epoch; {counts}")
        print(
            events.table(
                sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40
            )
        )


if __name__ == "__main__":
    main()
