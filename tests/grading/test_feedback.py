"""Feedback pages: what a student reads after grading.

The end-to-end test grades assignment 1 with the grading command (jail included) for a student
who wrote their own answers, one of them with a mistake that only the hidden tests catch, and for
the instructor's solution; the pages must show the failure message and the points, and no line of
hidden-test code nor any solution line the student did not write. The unit test builds a tiny
notebook with an answer graded by hand and checks the page before and after manual grading.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from cnnbook.grading import feedback
from cnnbook.grading.assignments import release_notebook, source_notebook
from cnnbook.grading.sandbox import CellResult, NotebookGrade, feedback_notebook

ROOT = Path(__file__).resolve().parents[2]
A = "01-mlp-to-cnn"

# A student's own answers to assignment 1, written for this test. conv2d_output_size checks that
# the kernel fits without its dilation, so a dilated kernel that does not fit raises nothing:
# the visible tests pass, the hidden tests (dilations up to 3) expect a ValueError.
STUDENT = {
    "dense_params": """def dense_params(in_features, out_features, bias=True):
    if min(in_features, out_features) <= 0:
        raise ValueError("in_features and out_features must be positive")
    weights = in_features * out_features
    return weights + out_features if bias else weights
""",
    "conv2d_params": """def conv2d_params(in_channels, out_channels, kernel_size, bias=True):
    if in_channels <= 0 or out_channels <= 0:
        raise ValueError("channel counts must be positive")
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    kh, kw = kernel_size
    count = out_channels * in_channels * kh * kw
    if bias:
        count += out_channels
    return count
""",
    "conv2d_output_size": """def conv2d_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    if stride < 1 or padding < 0 or dilation < 1 or size < 1 or kernel_size < 1:
        raise ValueError("size, kernel_size, stride, dilation >= 1 and padding >= 0")
    if kernel_size > size + 2 * padding:
        raise ValueError("the kernel does not fit in the padded input")
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
""",
    "receptive_field": """def receptive_field(layers) -> int:
    field, jump = 1, 1
    for kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError("kernel and stride must be >= 1")
        field += (kernel - 1) * jump
        jump *= stride
    return field
""",
}


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _region_lines(text: str, begin: str, end: str) -> list[str]:
    """The stripped lines between the marker lines ``begin`` and ``end``."""
    lines, inside = [], False
    for line in text.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


def _telling(lines: list[str], known: str) -> set[str]:
    """Lines long enough to identify code, leaving out those found in ``known`` (text the student
    legitimately sees or wrote: the release, their own answers)."""
    return {line for line in lines if len(line) >= 12 and line not in known}


def _page_texts(path: Path) -> tuple[str, str]:
    """The page as text (what the browser shows) and its unescaped HTML."""
    import html

    page = path.read_text(encoding="utf-8")
    return BeautifulSoup(page, "html.parser").get_text(), html.unescape(page)


def _panel_heading(path: Path, grade_id: str) -> str:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    anchor = soup.find("a", attrs={"name": grade_id})
    return anchor.find_next("div", class_="panel-heading").get_text(" ", strip=True)


@pytest.mark.slow
def test_grading_writes_feedback_pages_without_hidden_or_solution_code(tmp_path: Path) -> None:
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / A, tmp_path / "solutions" / A)
    source = nbformat.read(source_notebook(A, ROOT), as_version=4)
    release = nbformat.read(release_notebook(A, ROOT), as_version=4)

    mine = nbformat.read(release_notebook(A, ROOT), as_version=4)
    for cell in mine.cells:
        if _nbgrader(cell).get("grade_id") in STUDENT:
            cell.source = STUDENT[_nbgrader(cell)["grade_id"]]
    for student, nb in (("mine", mine), ("solution", source)):
        path = tmp_path / "submitted" / student / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)

    done = subprocess.run(
        [
            sys.executable, "-m", "cnnbook.grading", "grade", A, "--root", str(tmp_path),
            "--jobs", "2", "--quiet",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / f"grades-{A}.csv").open())}
    points = {
        _nbgrader(c)["grade_id"]: float(_nbgrader(c)["points"])
        for c in source.cells
        if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
    }
    full = sum(points.values())

    page = tmp_path / "feedback" / "mine" / A / f"{A}.html"
    text, unescaped = _page_texts(page)
    # the mistake: the visible test passes, the hidden one fails with check_raises_value_error's
    # message, and the page says so with the cell's points
    assert "0 of 5 points" in _panel_heading(page, "test_conv2d_output_size_hidden")
    assert points["test_conv2d_output_size_hidden"] == 5
    assert "2 of 2 points" in _panel_heading(page, "test_conv2d_output_size")
    assert re.search(r"conv2d_output_size\(\d+, \d+, \d+, \d+, [23]\): expected a ValueError", text)
    assert float(rows["mine"]["test_conv2d_output_size_hidden"]) == 0
    assert f"Score: {float(rows['mine']['total']):g} of {full:g} points" in text
    # what each hidden test checks comes from its visible comment
    assert "Hidden tests compare with the shape of torch.nn.functional.conv2d's output" in text

    hidden = []
    solution = []
    for cell in source.cells:
        hidden += _region_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        solution += _region_lines(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
    release_text = "\n".join(c.source for c in release.cells)
    hidden = _telling(hidden, release_text)
    solution = _telling(solution, release_text + "\n".join(STUDENT.values()))
    assert len(hidden) > 20 and len(solution) > 10  # the check has something to look for
    for what in (text, unescaped):
        assert not [line for line in hidden if line in what]
        assert not [line for line in solution if line in what]
        assert "BEGIN HIDDEN" not in what
    assert "Traceback" not in text  # (the page's CSS names pygments' Generic.Traceback)

    page = tmp_path / "feedback" / "solution" / A / f"{A}.html"
    text, unescaped = _page_texts(page)
    assert f"Score: {full:g} of {full:g} points" in text
    for grade_id, most in points.items():
        assert f"{most:g} of {most:g} points" in _panel_heading(page, grade_id)
    assert not [line for line in hidden if line in text or line in unescaped]


def _code(source: str, **nbgrader) -> dict:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **nbgrader}
    return cell


def _markdown(source: str, **nbgrader) -> dict:
    cell = nbformat.v4.new_markdown_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **nbgrader}
    return cell


SECRET = "_want = _oracle_of_the_instructor(_x, 0.25)"
RUBRIC = "Rubric: one point for naming the shared kernel"


def test_page_shows_failures_without_hidden_lines_and_manual_grades_once_graded() -> None:
    flags = {"grade": False, "solution": False}
    source = nbformat.v4.new_notebook()
    source.cells = [
        _markdown("## Task 1: scale an array"),
        _code("def scale(x, f):\n    ### BEGIN SOLUTION\n    return x * f\n    ### END SOLUTION",
              grade_id="scale", **{**flags, "solution": True}),
        _code("check_close(scale(np.ones(2), 2.0), np.full(2, 2.0))",
              grade_id="test_scale", points=1, **{**flags, "grade": True}),
        _code("# Hidden tests: random arrays and factors against an oracle.\n"
              f"### BEGIN HIDDEN TESTS\n{SECRET}\nassert np.allclose(scale(_x, 0.25), _want)\n"
              "### END HIDDEN TESTS\n",
              grade_id="test_scale_hidden", points=3, **{**flags, "grade": True}),
        _markdown("## Task 2: written answer"),
        _markdown(f"### BEGIN SOLUTION\n{RUBRIC}\n### END SOLUTION",
                  grade_id="written", points=2, grade=True, solution=True),
    ]  # fmt: skip
    submitted = nbformat.v4.new_notebook()
    submitted.cells = [
        source.cells[0],
        _code("def scale(x, f):\n    return x * f if f > 1 else x", grade_id="scale",
              **{**flags, "solution": True}),
        source.cells[2],
        _code("# Hidden tests: random arrays and factors against an oracle.\n",
              grade_id="test_scale_hidden", points=3, **{**flags, "grade": True}),
        source.cells[4],
        _markdown("Because the same weights slide over the image.", grade_id="written",
                  points=2, grade=True, solution=True),
    ]  # fmt: skip
    failure = f"AssertionError: while running {SECRET}: values differ at index (1,)"
    grade = NotebookGrade(
        [
            CellResult("test_scale", 1.0, 1.0, "passed"),
            CellResult("test_scale_hidden", 0.0, 3.0, "failed", failure),
        ]
    )
    graded = feedback_notebook(source, submitted, grade)
    feedback.annotate(graded, source, grade.cells)
    assert SECRET not in str(graded)

    page = feedback.render(graded, "tiny", "ada")
    text = BeautifulSoup(page, "html.parser").get_text(" ")
    assert SECRET not in page and SECRET not in text and RUBRIC not in text
    assert "values differ at index (1,)" in text
    assert "Hidden tests: random arrays and factors against an oracle." in text
    assert "Task 1: scale an array" in text
    assert "Because the same weights slide over the image." in text
    assert "awaiting manual grading" in text.lower()
    assert "Score: 1 of 6 points" in text  # 1 + 0 of 1 + 3 + 2; 2 still to grade by hand

    comment = "Right idea; say <which> weights are shared."
    graded_by_hand = {"written": feedback.ManualGrade(1.5, comment)}
    page = feedback.render(graded, "tiny", "ada", graded_by_hand)
    text = BeautifulSoup(page, "html.parser").get_text(" ")
    assert "awaiting manual grading" not in text.lower()
    assert comment in text and "<which>" not in page  # the comment is shown as text
    assert "1.5 of 2 points" in text
    assert "Score: 2.5 of 6 points" in text


@pytest.mark.filterwarnings("ignore:.*not in session")  # nbgrader's own ORM order; rows are written
def test_manual_grades_come_from_nbgraders_gradebook(tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    from cnnbook.grading.gradebook import _tools_on_path

    assert feedback.manual_grades(tmp_path, "tiny") == {}  # no gradebook yet
    _tools_on_path()
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_assignment("tiny")
        gb.add_notebook("tiny", "tiny")
        gb.add_grade_cell("test_scale", "tiny", "tiny", max_score=1, cell_type="code")
        gb.add_grade_cell("written", "tiny", "tiny", max_score=2, cell_type="markdown")
        gb.add_solution_cell("written", "tiny", "tiny")
        gb.add_solution_cell("scale", "tiny", "tiny")
        for student in ("ada", "bob"):
            gb.add_student(student)
            gb.add_submission("tiny", student)
        gb.find_grade("written", "tiny", "tiny", "ada").manual_score = 1.5
        gb.find_comment("written", "tiny", "tiny", "ada").manual_comment = "Name the kernel."
        gb.find_comment("scale", "tiny", "tiny", "bob").manual_comment = "Vectorise this."
        gb.db.commit()
    found = feedback.manual_grades(tmp_path, "tiny")
    assert found == {
        "ada": {"written": feedback.ManualGrade(1.5, "Name the kernel.")},
        "bob": {"scale": feedback.ManualGrade(None, "Vectorise this.")},
    }
    assert feedback.manual_grades(tmp_path, "other") == {}
