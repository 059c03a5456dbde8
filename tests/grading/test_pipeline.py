"""The grading pipeline end to end on assignment 1 (the fastest): the command line, bad
submissions, tampered test cells, the kernel engine, and nbgrader's own autograde and gradebook."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnbook.grading.assignments import release_notebook, source_notebook
from cnnbook.grading.pipeline import grade_assignment

ROOT = Path(__file__).resolve().parents[2]
A = "01-mlp-to-cnn"
FULL = 20.0


def _source() -> nbformat.NotebookNode:
    return nbformat.read(source_notebook(A, ROOT), as_version=4)


def _cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def _submit(folder: Path, student: str, nb) -> Path:
    path = folder / student / A / f"{A}.ipynb"
    path.parent.mkdir(parents=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_command_line_grades_good_and_reports_bad_submissions(tmp_path: Path) -> None:
    submitted = tmp_path / "submitted"
    _submit(submitted, "good", _source())

    crash = _source()
    _cell(crash, "conv2d_params").source = "import os\n\nos._exit(3)"
    _submit(submitted, "crash", crash)

    slow = _source()  # a Python loop that never ends: the per-cell alarm stops it
    _cell(slow, "conv2d_params").source = "while True:\n    pass"
    _submit(submitted, "slow", slow)

    stuck = _source()  # ignores the alarm: the grader kills the process
    _cell(
        stuck, "receptive_field"
    ).source = (
        "import signal, time\n\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(60)"
    )
    _submit(submitted, "stuck", stuck)

    cheat = nbformat.read(release_notebook(A, ROOT), as_version=4)  # tests replaced by `pass`
    for cell in cheat.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
    _submit(submitted, "cheat", cheat)

    reordered = _source()  # test cells deleted, a helper cell added: tests come back from source
    reordered.cells = [
        c for c in reordered.cells if not c.metadata.get("nbgrader", {}).get("grade")
    ]
    helper = nbformat.v4.new_code_cell("def _positive(value):\n    return value > 0")
    reordered.cells.insert(2, helper)
    _submit(submitted, "reordered", reordered)

    _submit(submitted, "broken", '{"cells": [')
    (submitted / "absent" / A).mkdir(parents=True)

    output = tmp_path / "grades.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "cnnbook.grading", "grade", A, "--root", str(ROOT),
            "--submitted", str(submitted), "--output", str(output), "--jobs", "2",
            "--cell-timeout", "2", "--quiet", "--autograded", str(tmp_path / "autograded"),
            "--feedback", str(tmp_path / "feedback"),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["student"]: row for row in csv.DictReader(output.open())}
    assert set(rows) == {"good", "crash", "slow", "stuck", "cheat", "reordered", "broken", "absent"}
    assert "test_receptive_field_hidden" in rows["good"]
    status = {student: row["status"] for student, row in rows.items()}
    assert status == {
        "good": "ok", "crash": "crashed", "slow": "timeout", "stuck": "timeout", "cheat": "ok",
        "reordered": "ok", "broken": "invalid", "absent": "missing",
    }  # fmt: skip
    total = {student: float(row["total"]) for student, row in rows.items()}
    assert total["good"] == total["reordered"] == FULL
    assert total["cheat"] == total["broken"] == total["absent"] == 0
    # dense_params ran before the crash; the conv2d tests failed where the loop was stopped;
    # everything before the stuck cell counts.
    assert float(rows["crash"]["test_dense_params_hidden"]) == 2
    assert float(rows["crash"]["test_conv2d_params"]) == 0
    assert float(rows["slow"]["test_conv2d_params"]) == 0
    assert float(rows["slow"]["test_conv2d_output_size_hidden"]) == 5
    assert float(rows["stuck"]["test_conv2d_output_size_hidden"]) == 5
    assert float(rows["stuck"]["test_receptive_field"]) == 0
    for student in ("crash", "slow", "stuck", "broken", "absent"):
        assert f"{student}: {status[student]}" in done.stderr
    assert "graded 8 submissions" in done.stdout
    feedback = nbformat.read(tmp_path / "autograded" / "slow" / A / f"{A}.ipynb", as_version=4)
    errors = [o for c in feedback.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any(o.ename == "CellTimeoutError" for o in errors)
    # every student gets a feedback page, those whose notebook could not be graded too
    pages = {p.parts[-3] for p in (tmp_path / "feedback").glob(f"*/{A}/{A}.html")}
    assert pages == set(rows)
    assert "Status: invalid." in (tmp_path / "feedback" / "broken" / A / f"{A}.html").read_text()


@pytest.mark.slow
def test_trusted_engine_agrees_with_the_jail(tmp_path: Path) -> None:
    _submit(tmp_path, "solution", _source())
    half = _source()
    _cell(half, "receptive_field").source = "def receptive_field(layers):\n    return 1"
    _submit(tmp_path, "half", half)
    scores = {}
    for engine in ("jail", "trusted"):
        results = grade_assignment(
            A, root=ROOT, submitted_dir=tmp_path, engine=engine, progress=False, jobs=2
        )
        scores[engine] = {r.student: (r.status, r.scores) for r in results}
    assert scores["jail"] == scores["trusted"]
    assert sum(scores["jail"]["solution"][1].values()) == FULL
    assert scores["jail"]["half"][1]["test_receptive_field_hidden"] == 0
    with pytest.raises(ValueError, match="engine"):
        grade_assignment(A, root=ROOT, submitted_dir=tmp_path, engine="fork", progress=False)


@pytest.mark.slow
def test_nbgrader_autograde_and_gradebook_agree(tmp_path: Path) -> None:
    """nbgrader's own commands still work with the course configuration, and the scores the
    pipeline records in the gradebook equal those of `nbgrader autograde`."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / A, tmp_path / "solutions" / A)
    wrong = _source()
    _cell(wrong, "conv2d_output_size").source = _cell(wrong, "conv2d_output_size").source.replace(
        "// stride + 1", "// stride"
    )
    for student in ("alice", "bob"):
        _submit(tmp_path / "submitted", student, wrong)

    # nbgrader runs `alembic` from PATH: the one of this environment
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def nbgrader(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    nbgrader("generate_assignment", A, "--force")
    assert (tmp_path / "exercises" / A / f"{A}.ipynb").is_file()
    nbgrader("autograde", A, "--student=alice")

    from nbgrader.api import Gradebook

    from cnnbook.grading.gradebook import record

    results = grade_assignment(A, root=tmp_path, progress=False, jobs=1)
    record([r for r in results if r.student == "bob"], A, root=tmp_path)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        by_nbgrader = gb.find_submission(A, "alice").score
        by_pipeline = gb.find_submission(A, "bob").score
        cells = {
            g.name: (g.score, gb.find_grade(g.name, A, A, "bob").score)
            for g in gb.find_submission_notebook(A, A, "alice").grades
        }
    assert by_nbgrader == by_pipeline == FULL - 7
    assert all(a == b for a, b in cells.values()), cells
