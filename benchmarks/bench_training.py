"""Training benchmarks of chapter 6, printed as tables.

Run: .venv/bin/python benchmarks/bench_training.py [--only accuracy|overhead|numpy]

1. accuracy: the reference CNN on "stroke-digits" (target: >= 98.5 % test accuracy within 60 s of
   training), an MLP with about as many parameters (target: at least 3 points lower), and the
   accuracy each keeps when every test image is shifted by 2 or 3 pixels.
2. overhead: ``cnnbook.training.fit`` against a bare hand-written loop over the same batches with
   the same model (best of a few runs; target: fit within 10 %).
3. NumPy vs PyTorch: seconds per epoch of the one-convolution network trained with
   ``cnnbook.numpy_trainer`` and with PyTorch on the same data.

Every number is measured in this run on this machine; the device and thread count are printed.
Timings are wall-clock and suffer from other processes on the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import time

import numpy as np
import torch
from torch import nn

from cnnbook import data, numpy_trainer
from cnnbook.device import describe_device
from cnnbook.models import (
    build_mlp,
    build_reference_cnn,
    build_small_cnn,
    count_parameters,
    mlp_width_for_params,
)
from cnnbook.training import evaluate, fit, set_seed

DATASET = "stroke-digits"


def shift_images(
    X: torch.Tensor, seed: int, min_shift: int = 2, max_shift: int = 3
) -> torch.Tensor:
    """Move each image by a random offset (dy, dx), each in +-[min_shift, max_shift] or 0,
    with at least one non-zero; the uncovered border is filled with zeros (the background)."""
    rng = np.random.default_rng(seed)
    n, _, h, w = X.shape
    out = torch.zeros_like(X)
    pad = max_shift
    padded = nn.functional.pad(X, (pad, pad, pad, pad))
    for i in range(n):
        while True:
            dy, dx = (
                int(rng.choice([0, 1])) * int(rng.integers(min_shift, max_shift + 1))
                * int(rng.choice([-1, 1]))
                for _ in range(2)
            )  # fmt: skip
            if dy or dx:
                break
        out[i] = padded[i, :, pad - dy : pad - dy + h, pad - dx : pad - dx + w]
    return out


def batches(X: torch.Tensor, y: torch.Tensor, size: int = 1000) -> list:
    return list(zip(X.split(size), y.split(size), strict=True))


def accuracy_benchmark(args: argparse.Namespace) -> None:
    if args.style:  # a difficulty experiment: the same generator with other style ranges
        X, y, style = data.load_styled(
            DATASET, "train", args.n_train or 20000, args.style, args.seed
        )
        X_test, y_test, _ = data.load_styled(DATASET, "test", 5000, args.style, args.seed)
        print(f"   {style}")
    else:
        X, y = data.load(DATASET, "train", n=args.n_train, seed=args.seed, as_tensor=True)
        X_test, y_test = data.load(DATASET, "test", seed=args.seed, as_tensor=True)
    X_shift = shift_images(X_test, seed=1)
    train = data.make_loader(X, y, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    cnn_params = count_parameters(build_reference_cnn())
    width = mlp_width_for_params(cnn_params, num_hidden=2)
    print(f"\n1. accuracy on {DATASET}: {len(y)} training and {len(y_test)} test images")
    mlp_epochs = args.mlp_epochs
    print(f"   CNN {args.epochs} epochs, MLP {mlp_epochs} epochs, Adam lr {args.lr}, cosine "
          f"schedule, batch {args.batch_size}")  # fmt: skip
    # CPU seconds of this process too: with one thread on a busy machine they are what the wall
    # clock would show on an idle one
    header = f"{'model':<24}{'params':>9}{'epochs':>8}{'train s':>9}{'cpu s':>8}{'test acc':>10}"
    print(header + f"{'shifted':>9}{'drop':>7}")
    results = {}
    for name, build, epochs in (
        ("reference CNN", build_reference_cnn, args.epochs),
        (f"MLP 784-{width}-{width}-10", lambda: build_mlp(width, 2), mlp_epochs),
    ):
        set_seed(args.seed)
        model = build()
        cpu0 = time.process_time()
        history = fit(
            model, train, epochs=epochs, lr=args.lr, scheduler="cosine", device="cpu",
            seed=args.seed, progress=False,
        )  # fmt: skip
        cpu = time.process_time() - cpu0
        acc = evaluate(model, batches(X_test, y_test), "cpu")
        acc_shift = evaluate(model, batches(X_shift, y_test), "cpu")
        results[name] = acc
        print(
            f"{name:<24}{count_parameters(model):>9,}{history.epochs:>8}{history.total_time:>9.1f}"
            f"{cpu:>8.1f}{acc:>10.4f}{acc_shift:>9.4f}{acc - acc_shift:>7.3f}"
        )
    cnn, mlp = results.values()
    print(f"   CNN - MLP = {100 * (cnn - mlp):.2f} points (target >= 3)")


def bare_loop(model, loader, optimizer, loss_fn) -> None:
    model.train()
    for X, y in loader:
        loss = loss_fn(model(X), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all its threads) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def overhead_benchmark(args: argparse.Namespace) -> None:
    X, y = data.load(DATASET, "train", n=args.overhead_n, as_tensor=True)
    print(f"\n2. loop overhead: 1 epoch of {len(y)} images, batch {args.batch_size}, best of "
          f"{args.repeats}; wall-clock and CPU seconds")  # fmt: skip
    print(
        f"{'model':<15}{'bare':>7}{'fit':>7}{'ratio':>7}{'bar':>7}{'ratio':>7}   "
        f"{'cpu bare':>8}{'fit':>7}{'ratio':>7}{'bar':>7}{'ratio':>7}"
    )
    kinds = ("bare", "fit", "fit+bar")
    for name, build in (("reference CNN", build_reference_cnn), ("small CNN", build_small_cnn)):
        torch.manual_seed(0)
        start_model = build()
        walls: dict[str, list[float]] = {k: [] for k in kinds}
        cpus: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for kind in kinds:  # interleaved, so a burst of load hits every kind alike
                model = copy.deepcopy(start_model)
                loader = data.make_loader(X, y, batch_size=args.batch_size, shuffle=True, seed=0)
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                if kind == "bare":
                    run = functools.partial(bare_loop, model, loader, opt, nn.CrossEntropyLoss())
                else:
                    run = functools.partial(
                        fit, model, loader, epochs=1, optimizer=opt, device="cpu",
                        progress=kind == "fit+bar",
                    )  # fmt: skip
                with contextlib.redirect_stderr(io.StringIO()):  # bars drawn into a buffer
                    wall, cpu = timed(run)
                walls[kind].append(wall)
                cpus[kind].append(cpu)
        w = [min(walls[k]) for k in kinds]
        c = [min(cpus[k]) for k in kinds]
        print(
            f"{name:<15}{w[0]:>7.2f}{w[1]:>7.2f}{w[1] / w[0]:>7.3f}{w[2]:>7.2f}"
            f"{w[2] / w[0]:>7.3f}   {c[0]:>8.2f}{c[1]:>7.2f}{c[1] / c[0]:>7.3f}{c[2]:>7.2f}"
            f"{c[2] / c[0]:>7.3f}"
        )
    print("   target: fit / bare <= 1.10; 'bar' is fit with its tqdm progress bars drawn")


def numpy_benchmark(args: argparse.Namespace) -> None:
    X, y = data.load(DATASET, "train", n=args.numpy_n)
    batch = 64
    print(f"\n3. one-conv network, 1 epoch of {len(y)} images, batch {batch}, SGD momentum 0.9")
    torch.manual_seed(0)
    torch_model = build_small_cnn()
    np_model = numpy_trainer.small_cnn().load_torch(torch_model)
    history: dict[str, list[float]] = {}

    def numpy_run() -> None:
        history.update(
            numpy_trainer.fit(np_model, X, y, epochs=1, lr=0.02, batch_size=batch, progress=False)
        )

    numpy_wall, numpy_cpu = timed(numpy_run)
    loader = data.make_loader(X, y, batch_size=batch, shuffle=True, seed=0)
    opt = torch.optim.SGD(torch_model.parameters(), lr=0.02, momentum=0.9)
    torch_wall, torch_cpu = timed(
        lambda: bare_loop(torch_model, loader, opt, nn.CrossEntropyLoss())
    )
    print(f"{'trainer':<10}{'wall s':>9}{'cpu s':>9}")
    print(
        f"{'NumPy':<10}{numpy_wall:>9.2f}{numpy_cpu:>9.2f}"
        f"   (train loss {history['train_loss'][0]:.4f})"
    )
    print(f"{'PyTorch':<10}{torch_wall:>9.2f}{torch_cpu:>9.2f}")
    print(
        f"   NumPy / PyTorch time per epoch: {numpy_wall / torch_wall:.1f}x wall-clock, "
        f"{numpy_cpu / torch_cpu:.1f}x CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=7, help="CNN epochs (7: about 45 s on 2 cores)"
    )
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--n-train", type=int, default=None, help="training images (default: all)")
    parser.add_argument(
        "--mlp-epochs",
        type=int,
        default=30,
        help="the MLP is cheap, and an under-trained baseline would flatter the CNN: train it "
        "to convergence (default: 30 epochs, about 20 s)",
    )
    parser.add_argument(
        "--style",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="accuracy only: generate the data with these StrokeStyle overrides, e.g. shift=4.0 "
        "'scale=(0.8,1.0)' (default: the shipped dataset)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="accuracy only: seed of the data, the initial "
        "weights and the batch order (the shipped dataset is seed 0)"
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--overhead-n", type=int, default=4000)
    parser.add_argument("--numpy-n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["accuracy", "overhead", "numpy"], default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {describe_device(torch.device('cpu'))}, torch {torch.__version__}")
    for name, bench in (
        ("accuracy", accuracy_benchmark),
        ("overhead", overhead_benchmark),
        ("numpy", numpy_benchmark),
    ):
        if args.only in (None, name):
            bench(args)


if __name__ == "__main__":
    main()
