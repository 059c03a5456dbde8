"""Fixtures for the sandboxed grader: a tiny generated assignment, its release, and submissions.

The tiny assignment has the shape of the book's assignments (a locked set-up cell importing numpy
and torch, solution cells, visible and hidden test cells with points) so the executor can be tested
without the real assignments; ``hostile`` variants replace one solution cell's body.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from cnnbook.grading.sandbox import Limits

SETUP = """import sys

if "google.colab" in sys.modules:
    %pip install -q "cnnbook @ git+https://github.com/cnn-book/cnn-book"

import time

import numpy as np
import torch

rng = np.random.default_rng(0)
torch.manual_seed(0)
"""

SCALE = '''def scale(x, factor):
    """Return x * factor as a new array (x untouched)."""
    ### BEGIN SOLUTION
    return x * factor
    ### END SOLUTION
'''

TEST_SCALE = """_x = np.array([1.0, -2.0, 3.0])
_out = scale(_x, 2.0)
assert np.allclose(_out, [2.0, -4.0, 6.0]), f"scale([1, -2, 3], 2) gave {_out}"
"""

TEST_SCALE_HIDDEN = """# hidden tests of scale
### BEGIN HIDDEN TESTS
for _ in range(5):
    _x = rng.standard_normal(tuple(int(n) for n in rng.integers(1, 5, size=2)))
    _copy = _x.copy()
    _f = float(rng.normal())
    _want = (torch.from_numpy(_x) * _f).numpy()
    _got = scale(_x, _f)
    assert isinstance(_got, np.ndarray) and _got.shape == _want.shape, "shape"
    assert np.allclose(_got, _want), "values"
    assert np.array_equal(_x, _copy), "scale modified its input in place"
# timed here, in the grader: a Python loop over 3 million numbers takes 0.8 s or more
_seconds = []
for _ in range(3):  # the fastest of three: noise only ever adds time
    _started = time.perf_counter()
    scale(np.ones(3_000_000, np.float32), 2.0)
    _seconds.append(time.perf_counter() - _started)
assert min(_seconds) < 0.5, f"scale is not vectorised ({min(_seconds):.2f} s for 3 million numbers)"
### END HIDDEN TESTS
"""

RELU = '''def relu_forward(x):
    """ReLU; the cache is opaque (it holds a function, so it stays in the student's process)."""
    ### BEGIN SOLUTION
    mask = x > 0
    return np.where(mask, x, 0.0), {"mask": mask, "why": lambda: "opaque"}
    ### END SOLUTION


def relu_backward(dout, cache):
    ### BEGIN SOLUTION
    return np.where(cache["mask"], dout, 0.0)
    ### END SOLUTION
'''

TEST_RELU = """_x = np.array([[-1.0, 2.0], [3.0, -4.0]])
_out, _cache = relu_forward(_x)
assert np.allclose(_out, torch.relu(torch.from_numpy(_x)).numpy()), "forward"
_dx = relu_backward(np.ones_like(_x), _cache)
assert np.allclose(_dx, [[0.0, 1.0], [1.0, 0.0]]), "backward"
"""

TEST_RELU_HIDDEN = """### BEGIN HIDDEN TESTS
for _ in range(5):
    _x = rng.standard_normal((3, 4))
    _t = torch.from_numpy(_x.copy()).requires_grad_()
    _dout = rng.standard_normal((3, 4))
    torch.relu(_t).backward(torch.from_numpy(_dout))
    _out, _cache = relu_forward(_x)
    assert np.allclose(_out, torch.relu(torch.from_numpy(_x)).numpy()), "forward"
    assert np.allclose(relu_backward(_dout, _cache), _t.grad.numpy()), "backward"
### END HIDDEN TESTS
"""


def _cell(cell_type: str, source: str, **nbgrader) -> dict:
    cell = {"cell_type": cell_type, "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    if nbgrader:
        meta = {"schema_version": 3, "grade": False, "solution": False, "locked": False}
        meta.update(nbgrader)
        cell["metadata"]["nbgrader"] = meta
    return cell


def mini_source() -> dict:
    """The instructor's notebook of the tiny assignment (two tasks, 8 points)."""
    cells = [
        _cell("markdown", "# A tiny assignment", grade_id="intro", locked=True),
        _cell("code", SETUP, grade_id="setup", locked=True),
        _cell("markdown", "## Task 1: scale", grade_id="md-scale", locked=True),
        _cell("code", SCALE, grade_id="scale", solution=True),
        _cell("code", TEST_SCALE, grade_id="test_scale", grade=True, points=1, locked=True),
        _cell(
            "code",
            TEST_SCALE_HIDDEN,
            grade_id="test_scale_hidden",
            grade=True,
            points=2,
            locked=True,
        ),
        _cell("markdown", "## Task 2: ReLU", grade_id="md-relu", locked=True),
        _cell("code", RELU, grade_id="relu", solution=True),
        _cell("code", TEST_RELU, grade_id="test_relu", grade=True, points=2, locked=True),
        _cell(
            "code", TEST_RELU_HIDDEN, grade_id="test_relu_hidden", grade=True, points=3, locked=True
        ),
    ]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def release_of(source: dict) -> dict:
    """What nbgrader releases: solutions replaced by a stub, hidden tests removed."""
    nb = copy.deepcopy(source)
    solution = re.compile(r"([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[ \t]*\n?", re.S)
    hidden = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
    for cell in nb["cells"]:
        text = cell["source"]
        text = solution.sub(lambda m: f"{m.group(1)}raise NotImplementedError()\n", text)
        cell["source"] = hidden.sub("", text)
    return nb


def replace_solution(nb: dict, grade_id: str, body: str) -> dict:
    """A copy of ``nb`` whose solution cell ``grade_id`` holds ``body`` instead."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = body
            return nb
    raise KeyError(grade_id)


class Course:
    """A course folder laid out as nbgrader expects, with a secret in every instructor place."""

    SECRET = "THE-INSTRUCTOR'S-SECRET"

    def __init__(self, root: Path, assignment: str = "tiny"):
        self.root, self.assignment = root, assignment
        self.source_path = root / "source" / assignment / f"{assignment}.ipynb"
        self.source_path.parent.mkdir(parents=True)
        (root / "gradebook.db").write_text(self.SECRET)
        (root / "autograded").mkdir()

    def write_source(self, nb: dict) -> Path:
        self.source_path.write_text(json.dumps(nb))
        return self.source_path

    def submit(self, student: str, nb: dict | str | bytes) -> Path:
        path = self.root / "submitted" / student / self.assignment / f"{self.assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, bytes):
            path.write_bytes(nb)
        else:
            path.write_text(nb if isinstance(nb, str) else json.dumps(nb))
        return path


@pytest.fixture
def course(tmp_path: Path) -> Course:
    course = Course(tmp_path / "course")
    course.write_source(mini_source())
    return course


@pytest.fixture(scope="session")
def fast_limits() -> Limits:
    """Short limits so that time-limit tests cost about a second each."""
    return Limits(
        call_timeout=1.5,
        cell_timeout=3.0,
        submission_timeout=60.0,
        memory_bytes=512 << 20,
        output_chars=5_000,
    )


@pytest.fixture(scope="session")
def nbtools() -> SimpleNamespace:
    """The notebook helpers of this file (test modules cannot import a conftest)."""
    return SimpleNamespace(
        mini_source=mini_source,
        release_of=release_of,
        replace_solution=replace_solution,
        cell=_cell,
    )
