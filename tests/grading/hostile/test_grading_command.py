"""The grading command itself (``python -m cnnbook.grading grade``) on a class that mixes honest
and hostile submissions of assignment 1: the protections are on by default."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnbook.grading import jail
from cnnbook.grading.pipeline import grade_assignment

ROOT = Path(__file__).resolve().parents[3]
A = "01-mlp-to-cnn"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(jail.bwrap_path() is None, reason="needs a working bubblewrap"),
]


def test_the_jail_is_the_default_engine() -> None:
    import inspect

    assert inspect.signature(grade_assignment).parameters["engine"].default == "jail"


def test_grading_command_is_protected_by_default(tmp_path: Path, nbtools) -> None:
    source = json.loads((ROOT / "solutions" / A / f"{A}.ipynb").read_text())
    subs: dict[str, dict | str] = {
        "honest": source,
        "endless": nbtools.replace_solution(
            source, "dense_params", "def dense_params(*a, **k):\n    while True:\n        pass\n"
        ),
        "torch": nbtools.replace_solution(
            source,
            "conv2d_params",
            "import torch\n\ndef conv2d_params(i, o, k, bias="
            "True):\n    c = torch.nn.Conv2d(i, o, k, bias=bias)\n"
            "    return sum(p.numel() for p in c.parameters())\n",
        ),
        "exit": nbtools.replace_solution(source, "receptive_field", "import os\nos._exit(0)\n"),
        "broken": '{"nbformat": 4, "cells": [',
    }
    for student, nb in subs.items():
        path = tmp_path / "submitted" / student / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nb if isinstance(nb, str) else json.dumps(nb))
    output = tmp_path / "grades.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "cnnbook.grading", "grade", A, "--root", str(ROOT),
            "--submitted", str(tmp_path / "submitted"), "--output", str(output), "--jobs", "2",
            "--cell-timeout", "3", "--quiet", "--autograded", str(tmp_path / "autograded"),
            "--feedback", str(tmp_path / "feedback"),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["student"]: row for row in csv.DictReader(output.open())}
    full = float(rows["honest"]["max_score"])
    total = {student: float(row["total"]) for student, row in rows.items()}
    status = {student: row["status"] for student, row in rows.items()}
    assert total["honest"] == full and status["honest"] == "ok"
    assert (
        float(rows["endless"]["test_dense_params_hidden"]) == 0 and status["endless"] == "timeout"
    )
    assert float(rows["endless"]["test_receptive_field_hidden"]) > 0
    assert float(rows["torch"]["test_conv2d_params"]) == 0 and "torch" in rows["torch"]["message"]
    assert status["exit"] == "crashed" and float(rows["exit"]["test_receptive_field"]) == 0
    assert total["exit"] < full and float(rows["exit"]["test_dense_params"]) > 0
    assert status["broken"] == "invalid" and total["broken"] == 0
    feedback = tmp_path / "autograded" / "endless" / A / f"{A}.ipynb"
    assert "CellTimeoutError" in feedback.read_text()
    page = tmp_path / "feedback" / "endless" / A / f"{A}.html"
    assert "stopped: time limit" in page.read_text()
