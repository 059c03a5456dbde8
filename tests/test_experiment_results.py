"""Stored experiment results (cnnbook.results) agree with a reduced re-run of their scripts.

Each test re-runs a small part of a stored experiment with the same seed and compares it with
the stored numbers (the same machine reproduces them exactly; the tolerances allow for another
processor or library version), and recomputes the experiment's choices (learning rates) from its
stored runs by hand, without the script's own helper.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cnnbook import results, transfer

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "experiments"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- chapter 7: the transfer learning curve ----------------------------------------------------


def test_transfer_curve_is_the_runs_at_the_rate_chosen_on_the_first_seed():
    stored = results.load("transfer_curve")
    data, seeds = stored["data"], stored["data"]["seeds"]
    assert len(seeds) >= 3 and stored["provenance"]["seeds"] == seeds
    for strategy, curve in data["curve"].items():
        for k, size in enumerate(data["sizes"]):
            cell = [r for r in data["runs"] if (r["size"], r["strategy"]) == (size, strategy)]
            grid = {r["lr"]: r["val_acc"] for r in cell if r["seed"] == seeds[0]}
            assert sorted(grid) == sorted(data["lrs"])  # every rate tried on the first seed
            best = data["lrs"][int(np.argmax([grid[lr] for lr in data["lrs"]]))]
            assert curve["lr"][k] == best, (strategy, size)
            at_best = {r["seed"]: r["test_acc"] for r in cell if r["lr"] == best}
            assert sorted(at_best) == sorted(seeds)  # every seed at the chosen rate
            assert curve["test"][k] == [at_best[s] for s in sorted(seeds)]


@pytest.mark.slow
def test_transfer_curve_agrees_with_a_rerun_of_one_cell():
    data = results.load("transfer_curve")["data"]
    size = 5 if 5 in data["sizes"] else data["sizes"][0]
    k = data["sizes"].index(size)
    seed = data["seeds"][0]
    for strategy, curve in data["curve"].items():
        lr = curve["lr"][k]
        rerun = transfer.transfer_run(size, strategy, lr=lr, seed=seed)
        key = (size, strategy, lr, seed)
        stored = next(
            r for r in data["runs"] if (r["size"], r["strategy"], r["lr"], r["seed"]) == key
        )
        # 1,000 test and 500 validation letters: 3 points is 30 and 15 images
        assert rerun["test_acc"] == pytest.approx(stored["test_acc"], abs=0.03), strategy
        assert rerun["val_acc"] == pytest.approx(stored["val_acc"], abs=0.03), strategy
        assert rerun["steps"] == stored["steps"]


# --- chapter 1: the CNN against an MLP with as many parameters ---------------------------------


def _cnn_vs_mlp():
    return results.load("cnn_vs_mlp")["data"]


def test_cnn_vs_mlp_choices_and_budgets_are_what_the_chapter_states():
    data = _cnn_vs_mlp()
    assert abs(data["params"]["CNN"] - data["params"]["MLP"]) < 0.001 * data["params"]["CNN"]
    seeds = sorted({r["seed"] for r in data["runs"]})
    assert len(seeds) >= 3
    for name in ("CNN", "MLP"):
        tuning = {r["lr"]: r["val_acc"][-1] for r in data["runs"]
                  if r["model"] == name and r["seed"] == seeds[0]}  # fmt: skip
        assert sorted(tuning) == sorted(data["lrs"])  # the same grid for both
        assert data["best_lr"][name] == max(tuning, key=tuning.get)
        chosen = [r for r in data["runs"] if (r["model"], r["lr"]) == (name, data["best_lr"][name])]
        assert sorted(r["seed"] for r in chosen) == seeds
        assert all(
            r["epochs"] == data["epochs"] and len(r["val_acc"]) == r["epochs"] for r in chosen
        )
    long = [r for r in data["runs"] if r["model"] == "MLP (long)"]
    assert sorted(r["seed"] for r in long) == seeds
    assert all(r["lr"] == data["best_lr"]["MLP"] and r["epochs"] > data["epochs"] for r in long)


@pytest.mark.slow
def test_cnn_vs_mlp_agrees_with_a_rerun_of_the_mlp():
    data = _cnn_vs_mlp()
    module = _script("cnn_vs_mlp")
    n = data["n"]
    splits = module.load_splits(n["train"], n["val"], n["test"])
    lr = data["best_lr"]["MLP"]
    rerun = module.train_and_score("MLP", splits, lr, 0, data["epochs"])
    run = next(r for r in data["runs"] if (r["model"], r["lr"], r["seed"]) == ("MLP", lr, 0))
    # 2,000 test and 1,000 validation images: 2 points is 40 and 20 images
    assert rerun["test_acc"] == pytest.approx(run["test_acc"], abs=0.02)
    np.testing.assert_allclose(rerun["val_acc"], run["val_acc"], atol=0.02)


@pytest.mark.slow
def test_cnn_vs_mlp_agrees_with_a_rerun_of_the_cnns_first_epoch():
    data = _cnn_vs_mlp()
    module = _script("cnn_vs_mlp")
    n = data["n"]
    splits = module.load_splits(n["train"], n["val"], n["test"])
    lr = data["best_lr"]["CNN"]
    # the first of the stored run's epochs, on the same cosine schedule over all its epochs
    rerun = module.train_and_score("CNN", splits, lr, 0, data["epochs"], stop_after=1)
    run = next(r for r in data["runs"] if (r["model"], r["lr"], r["seed"]) == ("CNN", lr, 0))
    assert len(rerun["val_acc"]) == 1
    assert rerun["val_acc"][0] == pytest.approx(run["val_acc"][0], abs=0.02)


def test_gpu_speed_is_a_cuda_run_with_three_seeds_per_setting():
    """Chapter 6 reads this stored GPU run; it cannot be re-run on CI, so check what it claims."""
    stored = results.load("gpu_speed")
    assert stored["provenance"]["device"].startswith("cuda")
    assert stored["provenance"]["seeds"] == [0, 1, 2]
    speed = stored["data"]["seconds_per_epoch"]
    assert set(speed) == {"128", "512", "2048"}
    for batch in speed.values():
        assert set(batch) == set(stored["data"]["paths"])
        for seconds in batch.values():
            assert len(seconds) == 3 and all(0 < s < 60 for s in seconds)


def test_bench_amp_saves_what_chapter_6_reads(tmp_path, monkeypatch):
    """A tiny CPU run of benchmarks/bench_amp.py --save writes the schema chapter 6 reads."""
    import runpy
    import sys

    real_save = results.save

    def save_here(name, data, prov):
        return real_save(name, data, prov, tmp_path)

    monkeypatch.setattr(results, "save", save_here)
    argv = "bench_amp.py --n-train 64 --epochs 2 --batches 32 --seeds 3 --save tiny".split()
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(Path(__file__).parent.parent / "benchmarks" / "bench_amp.py"),
                   run_name="__main__")  # fmt: skip
    tiny = results.load("tiny", tmp_path)
    stored = results.load("gpu_speed")
    assert set(tiny["data"]) == set(stored["data"])
    assert tiny["data"]["paths"] == stored["data"]["paths"]
    assert [len(v) for v in tiny["data"]["seconds_per_epoch"]["32"].values()] == [3] * 4
