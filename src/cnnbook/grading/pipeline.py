"""Grade every submission of one assignment: restore, execute in parallel, score, write a CSV.

Submissions are laid out as nbgrader expects:
``submitted/<student>/<assignment>/<assignment>.ipynb``. A submission that cannot be read
(invalid JSON), crashes or times out is reported in the CSV and on the console; the others are
graded regardless.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .assignments import course_root, source_notebook
from .notebooks import grade_cells
from .sandbox import ENGINES
from .variants import configured_variant, stage_source

__all__ = ["SubmissionResult", "find_submissions", "grade_assignment", "write_csv"]


@dataclass
class SubmissionResult:
    """The grade of one student's submission.

    ``status`` is ``"ok"``, ``"invalid"`` (the notebook could not be read), ``"missing"`` (no
    notebook in the student's folder), ``"timeout"``, ``"crashed"`` or ``"error"`` (the grader
    failed on it: not the student's fault, see the message); ``scores`` maps each
    autograded cell's ``grade_id`` to the points earned.
    """

    student: str
    status: str
    scores: dict[str, float]
    max_score: float
    seconds: float = 0.0
    message: str = ""
    notebook: nbformat.NotebookNode | None = field(default=None, repr=False)

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))


def find_submissions(submitted_dir: Path, assignment: str) -> dict[str, Path]:
    """Map each student id to the path where their notebook should be (it may be missing)."""
    submitted_dir = Path(submitted_dir)
    if not submitted_dir.is_dir():
        raise ValueError(f"submitted_dir: {submitted_dir} is not a folder")
    found = {}
    for student_dir in sorted(p for p in submitted_dir.iterdir() if p.is_dir()):
        if (student_dir / assignment).is_dir():
            found[student_dir.name] = student_dir / assignment / f"{assignment}.ipynb"
    return found


def _read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str, str]:
    if not path.is_file():
        return None, "missing", f"no {path.name} in {path.parent}"
    try:
        nb = nbformat.read(path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("the notebook has no list of cells")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, "invalid", f"not a notebook (invalid JSON: {error})"
    except Exception as error:  # nbformat raises many types on malformed notebooks
        return None, "invalid", f"not a valid notebook ({type(error).__name__}: {error})"
    return nb, "ok", ""


def grade_assignment(
    assignment: str,
    root: Path | None = None,
    submitted_dir: Path | None = None,
    jobs: int | None = None,
    cell_timeout: float = 60.0,
    engine: str = "jail",
    progress: bool = True,
    autograded_dir: Path | None = None,
    variant: int | None = None,
) -> list[SubmissionResult]:
    """Grade every submission of ``assignment``.

    Args:
        assignment: e.g. ``"02-convolution"``.
        root: the course root (default: the folder holding ``nbgrader_config.py``).
        submitted_dir: default ``<root>/submitted``.
        jobs: parallel processes (default: the number of cores).
        cell_timeout: seconds one cell may run.
        engine: ``"jail"`` (the default: the student's code runs in a bubblewrap jail, the
            test cells in the grader, see ``grading-protections.md``) or ``"trusted"`` (the same
            without the jail, for one's own notebooks only).
        progress: show a tqdm progress bar on stderr.
        autograded_dir: if given, each executed notebook is written to
            ``<autograded_dir>/<student>/<assignment>/<assignment>.ipynb`` for feedback.
        variant: the variant the submissions answer (default: the course configuration's, see
            :mod:`cnnbook.grading.variants`); its tests and points are the ones graded.

    Returns:
        One :class:`SubmissionResult` per student folder, sorted by student id.
    """
    root = course_root() if root is None else Path(root)
    submitted_dir = root / "submitted" if submitted_dir is None else Path(submitted_dir)
    jobs = jobs or os.cpu_count() or 1
    variant = configured_variant(assignment, root) if variant is None else variant
    with tempfile.TemporaryDirectory(prefix="cnnbook-variant-") as staged:
        if variant == 0:
            source_path = source_notebook(assignment, root)
        else:
            source_path = stage_source(assignment, variant, Path(staged), root)
        return _grade_all(
            assignment, source_path, root, submitted_dir, jobs, cell_timeout, engine, progress,
            autograded_dir,
        )  # fmt: skip


def _grade_all(
    assignment: str,
    source_path: Path,
    root: Path,
    submitted_dir: Path,
    jobs: int,
    cell_timeout: float,
    engine: str,
    progress: bool,
    autograded_dir: Path | None,
) -> list[SubmissionResult]:
    source = nbformat.read(source_path, as_version=4)
    max_score = sum(cell.points for cell in grade_cells(source))
    zero = {cell.grade_id: 0.0 for cell in grade_cells(source)}

    if engine not in ENGINES:
        raise ValueError(f"engine: got {engine!r}, expected one of {ENGINES}")
    results: dict[str, SubmissionResult] = {}
    paths: dict[str, Path] = {}
    for student, path in find_submissions(submitted_dir, assignment).items():
        nb, status, message = _read_submission(path)
        if nb is None:
            results[student] = SubmissionResult(
                student, status, dict(zero), max_score, 0.0, message
            )
            continue
        paths[student] = path

    bar = None
    if progress:
        from tqdm.auto import tqdm

        tqdm.monitor_interval = 0  # no monitor thread in a process that forks
        bar = tqdm(total=len(paths), desc=f"grading {assignment}", unit="submission")
    try:
        results.update(
            _grade_sandboxed(
                assignment, source_path, paths, jobs, cell_timeout, max_score, bar,
                autograded_dir, engine,
            )
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    return [results[s] for s in sorted(results)]


def _grade_sandboxed(
    assignment: str,
    source_path: Path,
    paths: dict[str, Path],
    jobs: int,
    cell_timeout: float,
    max_score: float,
    bar,
    autograded_dir: Path | None,
    engine: str,
) -> dict[str, SubmissionResult]:
    """:func:`cnnbook.grading.sandbox.grade_many` on every submission."""
    from .feedback import annotate
    from .sandbox import Limits, feedback_notebook, grade_many, load_notebook

    source = load_notebook(source_path, max_bytes=1 << 30)
    limits = Limits(call_timeout=cell_timeout, cell_timeout=cell_timeout)
    grades = grade_many(
        source_path,
        paths,
        jobs=jobs,
        limits=limits,
        engine=engine,
        on_done=(lambda *_: bar.update(1)) if bar is not None else None,
    )
    results = {}
    for student, grade in grades.items():
        notebook = None
        if grade.rejected is None:
            graded = feedback_notebook(source, load_notebook(paths[student]), grade)
            # what each test checked and its result, for the feedback page (hidden code scrubbed)
            annotate(graded, source, grade.cells)
            graded.setdefault("metadata", {})["cnnbook"] = {
                "status": grade.status,
                "message": grade.message,
            }
            notebook = nbformat.from_dict(graded)
        results[student] = SubmissionResult(
            student, grade.status, grade.scores, max_score, grade.seconds, grade.message, notebook
        )
        if autograded_dir is not None and notebook is not None:
            out = Path(autograded_dir) / student / assignment / f"{assignment}.ipynb"
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, out)
    return results


def write_csv(results: list[SubmissionResult], grade_ids: list[str], path: Path) -> None:
    """One row per student: status, total, maximum, points per ``grade_id``, seconds, message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written next to the target, then renamed over it: a link planted at ``path`` is replaced,
    # never followed
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    with partial.open("x", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["student", "status", "total", "max_score", *grade_ids, "seconds", "message"]
        )
        for r in results:
            writer.writerow(
                [
                    r.student,
                    r.status,
                    f"{r.total:g}",
                    f"{r.max_score:g}",
                    *(f"{r.scores.get(g, 0.0):g}" for g in grade_ids),
                    f"{r.seconds:.2f}",
                    r.message,
                ]
            )
    os.replace(partial, path)
