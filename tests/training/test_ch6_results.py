"""The stored results of ``scripts/experiments/ch6_regularization.py`` (chapter 6).

The fast tests check that the file is consistent with itself and with ``fit``'s early stopping;
the slow ones re-run seed 0 of two settings and compare with what was stored.
"""

import numpy as np
import pytest

from cnnbook import results
from cnnbook.experiments.regularization import (
    early_stop_epochs,
    glyph_splits,
    summarise,
    train_run,
)

STORED = results.load("ch6_regularization")
DATA = STORED["data"]


def test_provenance_names_the_seeds_script_and_device():
    prov = STORED["provenance"]
    assert len(prov["seeds"]) >= 3
    assert prov["script"] == "scripts/experiments/ch6_regularization.py"
    assert prov["device"] and prov["seconds"] > 0


def test_every_setting_has_a_run_per_seed_and_its_summary():
    seeds = STORED["provenance"]["seeds"]
    for name, setting in DATA["settings"].items():
        assert len(setting["runs"]) == len(seeds), name
        for key, summary in setting["summary"].items():
            expected = summarise([run[key] for run in setting["runs"]])
            assert summary == pytest.approx(expected), (name, key)


def test_stored_early_stopping_runs_stop_where_the_rule_says():
    patience = DATA["patience"]
    full = DATA["settings"]["baseline"]["runs"]
    stopped = DATA["settings"]["early_stopping"]["runs"]
    for run_full, run_stopped in zip(full, stopped, strict=True):
        stop, best = early_stop_epochs(run_full["val_loss"], patience)
        assert run_stopped["epochs_run"] == stop
        assert run_stopped["best_epoch"] == best
        np.testing.assert_allclose(run_stopped["val_loss"], run_full["val_loss"][:stop], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", "weight_decay=0.1"])
def test_seed_0_reproduces(name):
    splits = glyph_splits(DATA["n_train"], DATA["n_val"], DATA["n_test"])
    want = DATA["settings"][name]["runs"][0]
    got = train_run(
        splits["train"],
        splits["val"],
        splits["test"],
        epochs=DATA["epochs"],
        lr=DATA["lr"],
        seed=0,
        **DATA["settings"][name]["setting"],
    )
    assert got["train_acc"] == pytest.approx(want["train_acc"], abs=0.03)
    assert got["val_acc_final"] == pytest.approx(want["val_acc_final"], abs=0.03)
    np.testing.assert_allclose(got["val_loss"][:5], want["val_loss"][:5], rtol=0.05)
