"""The stored-results helper: a round trip keeps data and provenance, bad names are refused."""

import pytest

from cnnbook import results


def test_round_trip_keeps_data_and_provenance(tmp_path):
    prov = results.provenance(seeds=[0, 1, 2], seconds=1.234, script="scripts/x.py", device="cpu")
    path = results.save("toy-run", {"acc": [0.5, 0.75]}, prov, directory=tmp_path)
    assert path.name == "toy-run.json"
    back = results.load("toy-run", directory=tmp_path)
    assert back["data"] == {"acc": [0.5, 0.75]}
    assert back["provenance"]["seeds"] == [0, 1, 2] and back["provenance"]["seconds"] == 1.2
    assert set(back["provenance"]["versions"]) == {"python", "torch", "numpy"}


def test_bad_names_and_missing_results_are_refused(tmp_path):
    with pytest.raises(ValueError, match="name"):
        results.load("../etc/passwd", directory=tmp_path)
    with pytest.raises(ValueError, match="no stored result 'absent'"):
        results.load("absent", directory=tmp_path)
    with pytest.raises(ValueError, match="not a number|Out of range|NaN"):
        results.save("nan", {"x": float("nan")}, {}, directory=tmp_path)
