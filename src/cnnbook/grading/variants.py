"""Per-offering variants of an assignment: overlays on the instructor's source notebook.

Variant 0 is the notebook in ``solutions/<assignment>/<assignment>.ipynb`` as it is. Variant ``k``
is that notebook with the cells listed in ``solutions/<assignment>/variants/<k>.yaml`` replaced:
task text, solution cell, visible test and hidden test, each keyed by its nbgrader ``grade_id``.
The package's reference (``cnnbook.numpy_ref``) is variant 0's, so a variant's exact code is not
shipped to students; its solution and its tests (PyTorch the oracle) live in the overlay only.

An overlay file::

    title: one line saying what the variant asks for
    cells:
      md-03: |          # the source of the cell whose grade_id is md-03, replaced whole
        ## Task 2: ...
      leaky_relu: |
        def elu_forward(x, alpha=1.0):
            ### BEGIN SOLUTION
            ...
    edits:              # optional: in-place edits of a cell, [old, new] pairs
      md-01:
        - ["`x` has shape `(N, C, H, W)`", "`x` has shape `(N, H, W, C)`"]
    points:             # optional: new points of autograded test cells
      test_leaky_relu_hidden: 4

Only the sources (and the points named) change: the cell's type and nbgrader flags stay the base
cell's. ``edits`` change a few words of a cell that others keep editing (the introduction) without
freezing the rest of it; each ``old`` must occur exactly once. An overlay that names a ``grade_id``
the base notebook no longer has, an edit whose text is no longer in its cell, a replacement that
drops the solution or hidden-test markers of a cell that had them, or points set on a cell that is
not a test fails with a ``ValueError`` naming the cell.

Which variant a course uses is set in ``nbgrader_config.py``: ``c.CnnBook.variant = k`` for every
assignment that has variants, ``c.CnnBook.variants = {"04-pooling": 2}`` for one assignment
(it wins); an assignment without a ``variants/`` folder always uses variant 0.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat

from .assignments import _check_assignment, course_root, source_notebook

__all__ = [
    "VariantError",
    "apply_overlay",
    "available_variants",
    "configured_variant",
    "load_overlay",
    "stage_source",
    "variant_file",
    "variant_source",
]

VARIANTS_DIR = "variants"
_SOLUTION = re.compile(r"### BEGIN SOLUTION\n.*?### END SOLUTION", flags=re.S)
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", flags=re.S)


class VariantError(ValueError):
    """An overlay that does not fit its base notebook, or a variant that does not exist."""


def variant_file(assignment: str, variant: int, root: Path | None = None) -> Path:
    """``solutions/<assignment>/variants/<variant>.yaml``."""
    return source_notebook(assignment, root).parent / VARIANTS_DIR / f"{int(variant)}.yaml"


def available_variants(assignment: str, root: Path | None = None) -> list[int]:
    """The variants of ``assignment``: 0 and every ``variants/<k>.yaml``, in order."""
    folder = source_notebook(assignment, root).parent / VARIANTS_DIR
    found = [int(p.stem) for p in folder.glob("*.yaml") if p.stem.isdigit() and int(p.stem) > 0]
    return [0, *sorted(found)]


def _check_variant(assignment: str, variant: int, root: Path | None) -> int:
    if isinstance(variant, bool) or not isinstance(variant, int) or variant < 0:
        raise VariantError(f"variant: got {variant!r}, expected a non-negative integer")
    offered = available_variants(assignment, root)
    if variant not in offered:
        missing = variant_file(assignment, variant, root)
        raise VariantError(
            f"variant: {assignment} has no variant {variant} (no {missing}); it offers {offered}"
        )
    return variant


def configured_variant(assignment: str, root: Path | None = None) -> int:
    """The variant the course configuration (``nbgrader_config.py``) chooses for ``assignment``.

    ``c.CnnBook.variants[assignment]`` if set, else ``c.CnnBook.variant`` for an assignment that
    has variants, else 0.

    Raises:
        VariantError: the configuration names a variant the assignment does not have.
    """
    from traitlets.config.loader import PyFileConfigLoader

    _check_assignment(assignment)
    root = course_root() if root is None else Path(root)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    section = config.CnnBook if "CnnBook" in config else {}
    per_assignment = dict(section.get("variants", {}) or {})
    if assignment in per_assignment:
        return _check_variant(assignment, per_assignment[assignment], root)
    variant = section.get("variant", 0)
    if len(available_variants(assignment, root)) == 1:
        return 0  # no variants: the course-wide key does not apply
    return _check_variant(assignment, variant, root)


def load_overlay(assignment: str, variant: int, root: Path | None = None) -> dict:
    """The parsed overlay of a variant (``{}`` for variant 0).

    Raises:
        VariantError: no such variant, or a file that is not an overlay.
    """
    import yaml

    _check_variant(assignment, variant, root)
    if variant == 0:
        return {}
    path = variant_file(assignment, variant, root)
    overlay = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(overlay, dict) or not isinstance(overlay.get("cells"), dict):
        raise VariantError(f"{path}: expected a mapping with 'cells': {{grade_id: source}}")
    unknown = set(overlay) - {"title", "cells", "edits", "points"}
    if unknown:
        raise VariantError(
            f"{path}: unknown keys {sorted(unknown)}; expected title, cells, edits, points"
        )
    for grade_id, pairs in (overlay.get("edits") or {}).items():
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) for t in p)
            for p in pairs
        ):
            raise VariantError(f"{path}: edits of {grade_id!r}: expected a list of [old, new]")
    for grade_id, text in overlay["cells"].items():
        if not isinstance(text, str):
            raise VariantError(f"{path}: cell {grade_id!r}: the replacement must be text")
    overlay["path"] = str(path)
    return overlay


def apply_overlay(nb: nbformat.NotebookNode, overlay: dict) -> nbformat.NotebookNode:
    """A copy of the source notebook ``nb`` with the overlay's cells and points put in.

    Raises:
        VariantError: a ``grade_id`` the notebook does not have (or has twice), an edit whose text
            the cell does not hold exactly once, a replacement that
            loses the solution or hidden-test markers of the cell it replaces, or points set on a
            cell that is not an autograded test.
    """
    nb = copy.deepcopy(nb)
    if not overlay:
        return nb
    name = overlay.get("path", "overlay")
    by_id: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            by_id.setdefault(grade_id, []).append(cell)

    def the_cell(grade_id: str):
        cells = by_id.get(grade_id, [])
        if len(cells) != 1:
            raise VariantError(
                f"{name}: the base notebook has {len(cells)} cells with grade_id {grade_id!r} "
                "(expected exactly one): the overlay no longer fits the notebook; update it"
            )
        return cells[0]

    for grade_id, text in overlay["cells"].items():
        cell = the_cell(grade_id)
        meta = cell.metadata["nbgrader"]
        if cell.cell_type == "code" and meta.get("solution") and _SOLUTION.search(cell.source):
            if not _SOLUTION.search(text):
                raise VariantError(f"{name}: cell {grade_id!r}: a solution cell needs its "
                                   "### BEGIN SOLUTION / ### END SOLUTION region")  # fmt: skip
        if _HIDDEN.search(cell.source) and not _HIDDEN.search(text):
            raise VariantError(f"{name}: cell {grade_id!r}: the base cell has hidden tests, the "
                               "replacement has no ### BEGIN HIDDEN TESTS region")  # fmt: skip
        cell.source = text.rstrip("\n")
    for grade_id, pairs in (overlay.get("edits") or {}).items():
        cell = the_cell(grade_id)
        for old, new in pairs:
            found = cell.source.count(old)
            if found != 1:
                raise VariantError(
                    f"{name}: cell {grade_id!r}: the edit's text {old!r} occurs {found} times in "
                    "the base cell (expected once): the overlay no longer fits; update it"
                )
            cell.source = cell.source.replace(old, new)
    for grade_id, points in (overlay.get("points") or {}).items():
        cell = the_cell(grade_id)
        if not cell.metadata["nbgrader"].get("grade") or cell.cell_type != "code":
            raise VariantError(f"{name}: cell {grade_id!r} is not an autograded test cell")
        cell.metadata["nbgrader"]["points"] = points
    return nb


def variant_source(
    assignment: str, variant: int | None = None, root: Path | None = None
) -> nbformat.NotebookNode:
    """The instructor's notebook of ``assignment`` for ``variant`` (default: the configured one)."""
    root = course_root() if root is None else Path(root)
    variant = configured_variant(assignment, root) if variant is None else variant
    overlay = load_overlay(assignment, variant, root)
    return apply_overlay(nbformat.read(source_notebook(assignment, root), as_version=4), overlay)


def stage_source(
    assignment: str, variant: int, folder: Path, root: Path | None = None, name: str | None = None
) -> Path:
    """Write the source folder of a variant to ``folder/<name>/`` (default name: the assignment):
    the files of ``solutions/<assignment>/`` except ``variants/``, the notebook overlaid.

    Returns:
        The path of the staged notebook.
    """
    root = course_root() if root is None else Path(root)
    src_dir = source_notebook(assignment, root).parent
    target = Path(folder) / (name or assignment)
    shutil.copytree(
        src_dir, target, ignore=shutil.ignore_patterns(VARIANTS_DIR, ".ipynb_checkpoints"),
        dirs_exist_ok=True,
    )  # fmt: skip
    path = target / f"{assignment}.ipynb"
    nbformat.write(variant_source(assignment, variant, root), path)
    return path
