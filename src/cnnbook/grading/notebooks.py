"""Prepare a submission for grading and score it, following nbgrader's model.

A submitted notebook is untrusted: a student may have edited or deleted the test cells. Before it
runs, every cell the instructor owns (tests, hidden tests included, and read-only cells) is restored
from the source notebook by its nbgrader ``grade_id``; only the solution cells and any cells the
student added are kept. After it runs, each autograded test cell earns its points unless it raised
an error or wrote to stderr (``nbgrader.utils.determine_grade``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat

__all__ = ["GradeCell", "grade_cells", "restore_trusted_cells", "score_cells", "strip_outputs"]


@dataclass(frozen=True)
class GradeCell:
    """An autograded test cell of the source notebook."""

    grade_id: str
    points: float


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_cells(source: nbformat.NotebookNode) -> list[GradeCell]:
    """The autograded test cells of ``source`` in notebook order (these are the CSV columns)."""
    cells = []
    for cell in source.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cells.append(GradeCell(meta["grade_id"], float(meta.get("points", 0))))
    return cells


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without outputs or execution counts."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def restore_trusted_cells(
    submission: nbformat.NotebookNode, source: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The notebook that is actually run: the student's answers inside the instructor's notebook.

    Cells of ``source`` that are not solution cells (tests with their hidden parts, read-only
    set-up cells) replace the submission's cells with the same ``grade_id``; if the student deleted
    one, it is put back after the source cell that precedes it. Solution cells and cells without
    nbgrader metadata come from the submission. Outputs are cleared.

    Args:
        submission: the student's notebook (any cell may have been edited).
        source: the instructor's notebook from ``solutions/``.

    Returns:
        A new notebook; neither argument is modified.
    """
    trusted = {}
    order = []
    for cell in source.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id:
            order.append(grade_id)
            trusted[grade_id] = cell
    position = {grade_id: i for i, grade_id in enumerate(order)}

    merged: list[nbformat.NotebookNode] = []
    seen: set[str] = set()
    next_index = 0  # source cells before this index have been placed

    def put_back_until(index: int) -> None:
        nonlocal next_index
        for grade_id in order[next_index:index]:
            if grade_id not in seen:
                merged.append(_restored(trusted[grade_id]))
                seen.add(grade_id)
        next_index = max(next_index, index)

    for cell in submission.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in position and grade_id not in seen:
            put_back_until(position[grade_id])
            seen.add(grade_id)
            src_cell = trusted[grade_id]
            if _nbgrader(src_cell).get("solution"):
                kept = copy.deepcopy(cell)
                kept.metadata["nbgrader"] = copy.deepcopy(src_cell.metadata["nbgrader"])
                merged.append(kept)
            else:
                merged.append(_restored(src_cell))
            next_index = max(next_index, position[grade_id] + 1)
        elif grade_id in position:
            continue  # a duplicated instructor cell: the original is already in place
        else:
            merged.append(copy.deepcopy(cell))
    put_back_until(len(order))

    result = copy.deepcopy(source)
    result.cells = merged
    return strip_outputs(result)


def _restored(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def score_cells(executed: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, float]:
    """Points earned by each autograded test cell of ``source`` in the executed notebook.

    Uses nbgrader's own rule (``nbgrader.utils.determine_grade``): full points unless the cell's
    output has an error or stderr text; a cell missing from ``executed`` earns nothing.
    """
    from nbgrader.utils import determine_grade  # the grader needs nbgrader, students do not

    by_id = {}
    for cell in executed.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id:
            by_id[grade_id] = cell
    scores = {}
    for grade_cell in grade_cells(source):
        cell = by_id.get(grade_cell.grade_id)
        if cell is None or cell.get("execution_count") is None:
            scores[grade_cell.grade_id] = 0.0
            continue
        earned, _ = determine_grade(cell)
        scores[grade_cell.grade_id] = float(earned or 0.0)
    return scores
