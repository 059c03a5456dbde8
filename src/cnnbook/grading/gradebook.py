"""Record the pipeline's scores into nbgrader's gradebook (SQLite), one writer at a time.

The gradebook is what ``nbgrader export``, ``generate_feedback`` and formgrader read. Parallel
``nbgrader autograde`` processes fight over that SQLite file; here the grading runs in parallel
and only this short, serial step writes to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

from .assignments import course_root

__all__ = ["record"]


def _tools_on_path() -> None:
    """nbgrader's gradebook runs the ``alembic`` command: find it next to this Python (a virtual
    environment's ``bin``) even when that folder is not on ``PATH`` (as under ``make``)."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


def _ensure_assignment(assignment: str, root: Path) -> None:
    """Put the assignment's notebooks and grade cells into the gradebook if they are missing.

    ``make release`` runs nbgrader without the database (the release is committed, the gradebook
    is not), so the first recording generates the assignment once more, into a throw-away folder,
    with the database switched on.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [
                sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                f"--CourseDirectory.release_directory={scratch}", "--log-level=WARN",
            ],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")


def record(results: Iterable, assignment: str, root: Path | None = None) -> int:
    """Write each result's per-cell scores as nbgrader auto scores.

    Args:
        results: :class:`cnnbook.grading.pipeline.SubmissionResult` objects.
        assignment: the assignment they belong to (its notebook has the same name).
        root: the course root; the gradebook is ``<root>/gradebook.db`` (nbgrader's default).

    Returns:
        The number of submissions recorded.
    """
    from nbgrader.api import Gradebook

    root = course_root() if root is None else Path(root)
    _tools_on_path()
    _ensure_assignment(assignment, root)
    count = 0
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        # nbgrader's own ORM code warns about its autoflush order; the rows are written anyway
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for result in results:
            gb.update_or_create_student(result.student)
            gb.update_or_create_submission(assignment, result.student)
            for grade_id, score in result.scores.items():
                grade = gb.find_grade(grade_id, assignment, assignment, result.student)
                grade.auto_score = score
            gb.db.commit()
            count += 1
    return count
