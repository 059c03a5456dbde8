"""Chapter 5: the loss landscape along the training path, with and without batch normalisation.

For the reference CNN without BN and with BN after every convolution and the dense layer, and for
each learning rate of a grid and each seed, train with plain SGD on glyph digits and, every few
steps, probe along the gradient direction (``cnnbook.landscape.train_with_probes``): the loss and
the change of the gradient after steps of several sizes, as Santurkar et al. (2018) do.

Run from the repository root (about 5 minutes of one CPU core)::

    OMP_NUM_THREADS=1 python scripts/experiments/bn_landscape.py --processes 4

It writes ``src/cnnbook/results/bn_landscape.json``. ``run`` is also called, reduced, by the
test ``tests/test_landscape.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from functools import partial

import numpy as np
import torch

from cnnbook import data, models, results
from cnnbook.landscape import train_with_probes
from cnnbook.training import set_seed

NAME = "bn_landscape"
BUILDERS = {
    "no BN": models.build_reference_cnn,
    "BN": partial(models.build_reference_cnn_bn, dense_bn=True),
}
CONFIG = {
    "n_train": 2048,
    "data_seed": 0,
    "batch_size": 32,
    "steps": 240,
    "probe_every": 20,
    "lrs": [0.03, 0.1, 0.3, 1.0],
    "step_sizes": [0.03, 0.1, 0.3, 1.0],
    "seeds": [0, 1, 2],
}


def _round(a) -> list:
    return np.round(np.asarray(a, dtype=np.float64), 6).tolist()


def _one(config: dict, label: str, lr: float, seed: int) -> dict:
    torch.set_num_threads(1)
    X, y = data.load(
        "glyph-digits", "train", n=config["n_train"], seed=config["data_seed"], as_tensor=True
    )
    set_seed(seed)
    model = BUILDERS[label]()
    r = train_with_probes(
        model,
        X,
        y,
        lr=lr,
        steps=config["steps"],
        batch_size=config["batch_size"],
        probe_every=config["probe_every"],
        step_sizes=config["step_sizes"],
        seed=seed,
    )
    print(
        f"{label} lr={lr} seed={seed}: final loss {np.mean(r['train_loss'][-40:]):.3f}", flush=True
    )
    return {k: _round(v) for k, v in r.items()}


def run(config: dict, processes: int = 1) -> dict:
    """Train every (network, learning rate, seed) of ``config`` and return the probes,
    ``{label: {str(lr): [one result per seed]}}``."""
    jobs = [
        (label, lr, seed) for label in BUILDERS for lr in config["lrs"] for seed in config["seeds"]
    ]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            done = pool.starmap(_one, [(config, *job) for job in jobs])
    else:
        done = [_one(config, *job) for job in jobs]
    out: dict = {label: {str(lr): [] for lr in config["lrs"]} for label in BUILDERS}
    for (label, lr, _), result in zip(jobs, done, strict=True):
        out[label][str(lr)].append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=CONFIG["steps"])
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    config = dict(CONFIG, steps=args.steps)
    torch.set_num_threads(1)
    start = time.time()
    runs = run(config, processes=args.processes)
    prov = results.provenance(
        seeds=config["seeds"],
        seconds=time.time() - start,
        script="scripts/experiments/bn_landscape.py",
    )
    path = results.save(NAME, {"config": config, "runs": runs}, prov)
    print(f"wrote {path} in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
