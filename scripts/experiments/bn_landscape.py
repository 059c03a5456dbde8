"""Chapter 5: the loss landscape along the training path, with and without batch normalisation.

For the reference CNN without BN and with BN after every convolution and the dense layer, and for
each learning rate of a grid and each seed, train with plain SGD on glyph digits and, every few
steps, probe along the gradient direction (``cnnbook.landscape.train_with_probes``): the loss and
the change of the gradient after steps of several sizes, as Santurkar et al. (2018) do.

Run from the repository root (about 5 minutes of one CPU core)::

    OMP_NUM_THREADS=1 python scripts/experiments/bn_landscape.py

It writes ``src/cnnbook/results/bn_landscape.json``. ``run`` is also called, reduced, by the
test ``tests/test_landscape.py``.
"""

from __future__ import annotations

import argparse
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


def run(config: dict, networks: dict | None = None) -> dict:
    """Train every (network, learning rate, seed) of ``config`` and return the probes."""
    X, y = data.load(
        "glyph-digits", "train", n=config["n_train"], seed=config["data_seed"], as_tensor=True
    )
    out: dict = {}
    for label, build in (networks or BUILDERS).items():
        out[label] = {}
        for lr in config["lrs"]:
            runs = []
            for seed in config["seeds"]:
                set_seed(seed)
                model = build()
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
                runs.append({k: _round(v) for k, v in r.items()})
                print(
                    f"{label} lr={lr} seed={seed}: final loss {np.mean(r['train_loss'][-40:]):.3f}",
                    flush=True,
                )
            out[label][str(lr)] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=CONFIG["steps"])
    args = parser.parse_args()
    config = dict(CONFIG, steps=args.steps)
    torch.set_num_threads(1)
    start = time.time()
    runs = run(config)
    prov = results.provenance(
        seeds=config["seeds"],
        seconds=time.time() - start,
        script="scripts/experiments/bn_landscape.py",
    )
    path = results.save(NAME, {"config": config, "runs": runs}, prov)
    print(f"wrote {path} in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
