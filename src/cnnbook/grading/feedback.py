"""Feedback pages: one HTML page per student and assignment, from the graded notebook.

The page is the student's notebook as graded, rendered by nbconvert's ``HTMLExporter`` with a
template that extends nbgrader's own feedback template (the one ``nbgrader generate_feedback``
uses), and a summary on top. Each autograded test cell says which task it belongs to, what it
checked, the points earned and, when it failed, the message (a wrong shape, which element differs
and by how much, an input modified in place, a ``ValueError`` that was expected). Each answer cell
graded by hand shows the grader's score and comment from nbgrader's gradebook once formgrader has
them, and "awaiting manual grading" until then.

Why not ``nbgrader generate_feedback`` itself: it renders the notebook that ``nbgrader autograde``
produced, into which autograding has put the hidden tests back, and nbgrader 0.9 does not strip
them from the feedback, so the page would show their code. Here the notebook rendered is
:func:`cnnbook.grading.sandbox.feedback_notebook`'s, where hidden regions are already replaced by a
placeholder, and every message shown is cleaned of hidden-test lines once more
(:func:`scrub`). Solutions never appear: the answer cells on the page are the student's own.

The per-cell facts are stored in the graded notebook's cell metadata (``cnnbook.feedback``) by
:func:`annotate`, so ``python -m cnnbook.grading feedback ASSIGNMENT`` can render the pages again
from ``autograded/`` after manual grading, without grading again.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sandbox import (
    _HIDDEN,
    CellResult,
    _graded_functions,
    _ipython_to_python,
    _meta,
    _source_cells,
    _text,
)

__all__ = [
    "ManualGrade",
    "annotate",
    "describe_test",
    "manual_grades",
    "regenerate",
    "render",
    "scrub",
    "write_page",
    "write_pages",
]

KEY = "cnnbook"  # cell metadata key holding the feedback facts

# What each assertion helper of the test cells checks, in a student's words.
_CHECKS = {
    "check_close": "values, shape and dtype compared with a reference (PyTorch or worked examples)",
    "assert_close": "values compared with a reference within a tolerance",
    "compare_with_torch": "outputs and gradients compared with PyTorch",
    "check_numeric_gradients": "gradients compared with numeric gradients",
    "check_equal": "exact results compared with the expected values",
    "check_raises_value_error": "bad input raises ValueError",
    "check_unchanged": "inputs are not modified in place",
    "check_vectorised": "no Python loop over N, H or W (timed on inputs with one long axis)",
}

_STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "timeout": "stopped: time limit",
    "crashed": "stopped: your process ended",
    "not-run": "not run (your process had ended)",
    "forbidden": "failed: a library this task forbids",
    "rejected": "not graded (the notebook could not be read)",
    "error": "not graded: the grader failed (your instructor will regrade it)",
}


@dataclass(frozen=True)
class ManualGrade:
    """What the gradebook holds for one cell: the score a grader gave (``None`` until a grader
    has scored it) and the grader's comment (empty when none)."""

    score: float | None
    comment: str = ""


# ----------------------------------------------------------------------------------------------
# What a test cell checks


def _headings(source: dict) -> dict[int, str]:
    """Index of each cell -> the last level-2 heading (``## Task 1: ...``) above it."""
    current, found = "", {}
    for i, cell in enumerate(source["cells"]):
        if cell.get("cell_type") == "markdown":
            for line in _text(cell).splitlines():
                if line.startswith("## "):
                    current = line[3:].strip()
        found[i] = current
    return found


def _called(code: str) -> list[str]:
    """Names called in ``code``, in order of first appearance."""
    try:
        tree = ast.parse(_ipython_to_python(code))
    except SyntaxError:
        return []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    names = []
    for node in calls:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        name = func.attr if isinstance(func, ast.Attribute) else name
        if name:
            names.append(name)
    # a function passed as an argument counts too: check_raises_value_error(pad2d, ...)
    for node in calls:
        names += [a.id for a in node.args if isinstance(a, ast.Name)]
    return list(dict.fromkeys(names))


def _leading_comment(text: str) -> str:
    """The comment lines a cell starts with (its own description), joined into one sentence."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#") or stripped.startswith("### BEGIN"):
            break
        lines.append(stripped.lstrip("#").strip())
    return " ".join(line for line in lines if line)


def describe_test(text: str, graded: Iterable[str], metadata: Mapping | None = None) -> str:
    """One line saying what a test cell checks, never quoting its hidden code.

    In this order: the description the source notebook gives the cell
    (``metadata["cnnbook"]["checks"]``); else the comment lines the cell starts with (the visible
    part, as in the student's release); else the graded functions it calls and what its
    assertion helpers check (:data:`_CHECKS`).

    Args:
        text: the test cell's full source (hidden tests included: only names are read from it).
        graded: the names of the functions the student writes.
        metadata: the source cell's metadata.
    """
    given = ((metadata or {}).get(KEY) or {}).get("checks")
    if isinstance(given, str) and given.strip():
        return given.strip()
    comment = _leading_comment(text)
    if comment:
        return comment
    called = _called(text)
    hidden = bool(_HIDDEN.search(text))
    functions = [name for name in called if name in set(graded)]
    checks = [_CHECKS[name] for name in called if name in _CHECKS]
    if not checks and "assert" in re.findall(r"\bassert\b", text):
        checks = ["assertions on the results"]
    which = ", ".join(f"{f}" for f in functions) or "your functions"
    kind = "Hidden tests" if hidden else "Visible tests"
    return f"{kind} of {which}" + (f": {'; '.join(checks)}" if checks else "")


# ----------------------------------------------------------------------------------------------
# Messages without hidden code


def _hidden_lines(source: dict) -> list[str]:
    """The non-trivial lines of every hidden-test region of ``source`` (stripped)."""
    lines = []
    for cell in source["cells"]:
        for region in _HIDDEN.findall(_text(cell)):
            for line in region.splitlines():
                line = line.strip()
                if line.startswith("###") or len(re.sub(r"\W", "", line)) < 6:
                    continue  # markers and lines like ")" or "else:" say nothing
                lines.append(line)
    return sorted(set(lines), key=len, reverse=True)


def scrub(message: str, hidden_lines: Iterable[str]) -> str:
    """``message`` with every hidden-test line it quotes replaced by ``<hidden test code>``."""
    for line in hidden_lines:
        if line in message:
            message = message.replace(line, "<hidden test code>")
    return message


# ----------------------------------------------------------------------------------------------
# Annotating the graded notebook


def _manual(meta: Mapping) -> bool:
    return bool(meta.get("solution")) and bool(meta.get("grade"))


def annotate(notebook: dict, source: dict, results: Iterable[CellResult]) -> dict:
    """Store the feedback facts in ``notebook``'s cells (in place; also returned).

    Test cells get ``metadata["cnnbook"]["feedback"]`` with ``kind: "test"``, the task, what was
    checked, status, points, maximum and message; answer cells graded by hand get ``kind:
    "manual"``, the task and the maximum from the source. Anything under ``metadata["cnnbook"]``
    that the submission brought is removed first.

    Args:
        notebook: what :func:`cnnbook.grading.sandbox.feedback_notebook` returned.
        source: the instructor's notebook (the graded variant).
        results: the grade's :class:`~cnnbook.grading.sandbox.CellResult` list.
    """
    cells = _source_cells(source)
    graded = _graded_functions(cells)
    headings = _headings(source)
    hidden = _hidden_lines(source)
    by_id = {c.grade_id: c for c in cells if c.grade_id}
    outcome = {r.grade_id: r for r in results}
    for cell in notebook["cells"]:
        cell.setdefault("metadata", {}).pop(KEY, None)
        src = by_id.get(_meta(cell).get("grade_id"))
        if src is None:
            continue
        src_meta = source["cells"][src.index].get("metadata", {})
        task = headings.get(src.index, "")
        if src.role == "test":
            result = outcome.get(src.grade_id)
            facts = {
                "kind": "test",
                "task": task,
                "checks": describe_test(src.text, graded, src_meta),
                "status": result.status if result else "not-run",
                "points": result.points if result else 0.0,
                "max_points": src.points,
                "message": scrub(result.message, hidden) if result else "",
            }
        elif _manual(_meta(source["cells"][src.index])):
            facts = {"kind": "manual", "task": task, "max_points": src.points}
        elif src.role == "solution":  # shows the grader's comment, if any
            facts = {"kind": "answer", "task": task}
        else:
            continue
        cell["metadata"][KEY] = {"feedback": facts}
        if facts["kind"] == "test" and cell.get("cell_type") == "code":
            for output in cell.get("outputs", []):  # the same cleaning for the kept notebook
                if output.get("output_type") == "error":
                    output["evalue"] = scrub(str(output.get("evalue", "")), hidden)
                    output["traceback"] = [scrub(str(t), hidden) for t in output["traceback"]]
    return notebook


# ----------------------------------------------------------------------------------------------
# The gradebook's manual scores and comments


def manual_grades(root: Path, assignment: str) -> dict[str, dict[str, ManualGrade]]:
    """Scores and comments formgrader stored in ``<root>/gradebook.db``, by student and
    ``grade_id``.

    A cell appears when a grader scored it by hand (``score``) or wrote a comment. Returns ``{}``
    when there is no gradebook or the assignment is not in it.
    """
    db = Path(root) / "gradebook.db"
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook, MissingEntry

    from .gradebook import _tools_on_path

    _tools_on_path()
    found: dict[str, dict[str, ManualGrade]] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return {}
        for submission in submissions:
            cells: dict[str, ManualGrade] = {}
            for notebook in submission.notebooks:
                if notebook.name != assignment:
                    continue
                comments = {c.name: (c.comment or "") for c in notebook.comments}
                for grade in notebook.grades:
                    comment = comments.pop(grade.name, "")
                    if grade.manual_score is not None or comment:
                        cells[grade.name] = ManualGrade(grade.manual_score, comment)
                cells.update({n: ManualGrade(None, c) for n, c in comments.items() if c})
            found[submission.student.id] = cells
    return found


# ----------------------------------------------------------------------------------------------
# Rendering

_TEMPLATES = Path(__file__).parent / "templates"


def _nbgrader_templates() -> tuple[Path, Path]:
    import nbgrader

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    css = formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    return formgrader / "templates", css


def _summary(notebook: dict, manual: Mapping[str, ManualGrade]) -> dict[str, Any]:
    """One row per annotated cell (what its panel and the table on top show), and the totals."""
    rows, earned, possible, pending = [], 0.0, 0.0, 0.0
    for cell in notebook["cells"]:
        facts = cell.get("metadata", {}).get(KEY, {}).get("feedback")
        if not facts:
            continue
        grade_id = _meta(cell).get("grade_id", "")
        grade = manual.get(grade_id)
        row = dict(facts, grade_id=grade_id, comment=grade.comment if grade else "")
        if facts["kind"] == "answer":
            rows.append(row)
            continue
        if facts["kind"] == "manual":
            row["points"] = grade.score if grade else None
            graded = row["points"] is not None
            row["state"] = "graded" if graded else "pending"
            row["result"] = "graded by hand" if graded else "awaiting manual grading"
        else:
            row["state"] = "passed" if facts["status"] == "passed" else "failed"
            row["result"] = _STATUS_WORDS.get(facts["status"], facts["status"])
            if grade is not None and grade.score is not None:  # the grader overrode it
                row["points"] = grade.score
                row["result"] += " (score set by the grader)"
        if row["points"] is None:
            pending += facts["max_points"]
        else:
            earned += float(row["points"])
        possible += facts["max_points"]
        rows.append(row)
    return {
        "rows": [r for r in rows if r["kind"] != "answer"],
        "all": rows,
        "earned": earned,
        "possible": possible,
        "pending": pending,
    }


@functools.cache
def _exporter():
    """One exporter per process: it compiles the templates once (about a second)."""
    from nbconvert import HTMLExporter

    templates, css = _nbgrader_templates()
    exporter = HTMLExporter(
        template_name="cnnbook_feedback",
        extra_template_basedirs=[str(_TEMPLATES), str(templates)],
        extra_template_paths=[str(templates), str(css)],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_filter("safe_html", safe_html)
    return exporter


_TAGS = [
    *"a abbr b blockquote br code del div em h1 h2 h3 h4 h5 h6 hr i li ol p pre s span strong sub"
    " sup table tbody td th thead tr ul".split()
]


def safe_html(text: str) -> str:
    """The HTML of a rendered markdown cell, cleaned of anything but formatting (no scripts,
    styles, forms, frames, event handlers; links only to http, https and mailto): the student's
    markdown may hold any HTML. nbconvert's own ``sanitize_html`` escapes headings and paragraphs,
    hence this list."""
    import bleach

    attributes = {"*": ["class", "id", "title"], "a": ["href", "title", "class", "id"]}
    return bleach.clean(str(text), tags=_TAGS, attributes=attributes, strip=True)


def render(
    notebook: dict,
    assignment: str,
    student: str,
    manual: Mapping[str, ManualGrade] | None = None,
    status: str = "ok",
    message: str = "",
) -> str:
    """The feedback page (a complete HTML document) of one annotated graded notebook.

    Args:
        notebook: the graded notebook after :func:`annotate`.
        assignment, student: named on the page.
        manual: the gradebook's scores and comments (:func:`manual_grades`), by ``grade_id``.
        status, message: the submission's status and message (the CSV's), shown when not ok.
    """
    import nbformat

    manual = dict(manual or {})
    nb = copy.deepcopy(notebook)
    summary = _summary(nb, manual)
    by_id = {row["grade_id"]: row for row in summary["all"]}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":  # only text: no HTML, scripts or images from outputs
            kept = ("error", "stream")
            cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") in kept]
        facts = cell.get("metadata", {}).get(KEY, {}).get("feedback")
        if facts:
            cell["metadata"][KEY]["row"] = by_id[_meta(cell).get("grade_id", "")]
            if facts["kind"] == "test":
                cell["outputs"] = []  # the result is in the cell's footer
    exporter = _exporter()
    resources = {
        "nbgrader": {"notebook": assignment},
        KEY: {
            "assignment": assignment,
            "student": student,
            "status": status,
            "message": message,
            "summary": summary,
        },
    }
    node = nbformat.reads(json.dumps(nb), as_version=4)  # joins sources stored as lists of lines
    body, _ = exporter.from_notebook_node(node, resources=resources)
    return body


def write_page(page: str, path: Path) -> None:
    """Write ``page`` to ``path`` through a new file renamed over it (a planted link is
    replaced, never followed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    with partial.open("x", encoding="utf-8") as handle:
        handle.write(page)
    os.replace(partial, path)


def page_path(feedback_dir: Path, student: str, assignment: str) -> Path:
    """``<feedback_dir>/<student>/<assignment>/<assignment>.html``, nbgrader's feedback layout."""
    return Path(feedback_dir) / student / assignment / f"{assignment}.html"


def write_pages(
    results: Iterable, assignment: str, root: Path, feedback_dir: Path
) -> tuple[list[Path], list[str]]:
    """One page per graded submission (the ``SubmissionResult`` objects of
    :func:`cnnbook.grading.pipeline.grade_assignment`), with the gradebook's manual scores and
    comments when there are any. A submission that could not be graded (``invalid``, ``missing``)
    gets a page that says why.

    Returns:
        The pages written, and one line per page that could not be written (the grading stands).
    """
    import nbformat

    written, failed = [], []
    manual = manual_grades(root, assignment)
    for result in results:
        notebook = result.notebook if result.notebook is not None else nbformat.v4.new_notebook()
        try:
            grades = manual.get(result.student, {})
            page = render(
                notebook, assignment, result.student, grades, result.status, result.message
            )
            out = page_path(feedback_dir, result.student, assignment)
            write_page(page, out)
        except Exception as error:  # noqa: BLE001 - one page must not stop the others
            failed.append(f"{result.student}: {type(error).__name__}: {error}")
            continue
        written.append(out)
    return written, failed


def regenerate(assignment: str, root: Path, autograded_dir: Path, feedback_dir: Path) -> list[Path]:
    """Render the pages again from the kept graded notebooks and the gradebook (after manual
    grading in formgrader), without grading again. Returns the pages written."""
    import nbformat

    written = []
    autograded_dir = Path(autograded_dir)
    if not autograded_dir.is_dir():
        raise ValueError(f"autograded_dir: {autograded_dir} is not a folder; grade first")
    manual = manual_grades(root, assignment)
    for folder in sorted(p for p in autograded_dir.iterdir() if p.is_dir()):
        path = folder / assignment / f"{assignment}.ipynb"
        if not path.is_file():
            continue
        notebook = nbformat.read(path, as_version=4)
        status = notebook.get("metadata", {}).get(KEY, {}).get("status", "ok")
        message = notebook.get("metadata", {}).get(KEY, {}).get("message", "")
        grades = manual.get(folder.name, {})
        page = render(notebook, assignment, folder.name, grades, status, message)
        out = page_path(feedback_dir, folder.name, assignment)
        write_page(page, out)
        written.append(out)
    return written
