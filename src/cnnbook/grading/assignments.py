"""The assignments of the book and where their files live in the course directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSIGNMENTS", "course_root", "source_notebook", "release_notebook"]

ASSIGNMENTS: tuple[str, ...] = (
    "01-mlp-to-cnn",
    "02-convolution",
    "03-activations",
    "04-pooling",
    "05-batchnorm",
    "06-training",
    "07-transfer-learning",
)


def course_root(start: Path | str | None = None) -> Path:
    """The folder holding ``nbgrader_config.py``: ``start`` (default: the working directory) or
    one of its parents, else the repository this package was installed from (editable install).

    Raises:
        ValueError: if no ``nbgrader_config.py`` can be found.
    """
    here = Path(start or Path.cwd()).resolve()
    candidates = [here, *here.parents, *Path(__file__).resolve().parents]
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file():
            return folder
    raise ValueError(
        f"start: no nbgrader_config.py in {here} or its parents; run from the course root"
    )


def _check_assignment(assignment: str) -> None:
    if assignment not in ASSIGNMENTS:
        raise ValueError(
            f"assignment: got {assignment!r}, expected one of {', '.join(ASSIGNMENTS)}"
        )


def source_notebook(assignment: str, root: Path | None = None) -> Path:
    """The instructor's notebook ``solutions/<assignment>/<assignment>.ipynb``."""
    _check_assignment(assignment)
    root = course_root() if root is None else Path(root)
    return root / "solutions" / assignment / f"{assignment}.ipynb"


def release_notebook(assignment: str, root: Path | None = None) -> Path:
    """The student's notebook ``exercises/<assignment>/<assignment>.ipynb``."""
    _check_assignment(assignment)
    root = course_root() if root is None else Path(root)
    return root / "exercises" / assignment / f"{assignment}.ipynb"
