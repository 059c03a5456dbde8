"""Regenerate the student release ``exercises/`` from ``solutions/`` with nbgrader.

``python -m cnnbook.grading.release`` (``make release``) runs ``nbgrader generate_assignment`` for
every assignment. The release holds no outputs, no solution code and no hidden test, and it is
reproducible: the drift test regenerates it into a temporary folder and compares.

The variant of each assignment is the course configuration's (``c.CnnBook.variant`` in
``nbgrader_config.py``, see :mod:`cnnbook.grading.variants`) unless ``--variant`` says otherwise;
a variant other than 0 is released from a staged copy of ``solutions/`` with its overlay applied.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .assignments import ASSIGNMENTS, course_root
from .variants import available_variants, configured_variant, stage_source

__all__ = ["generate_release"]


def generate_release(
    release_dir: Path | None = None,
    root: Path | None = None,
    assignment: str = "*",
    variant: int | None = None,
) -> Path:
    """Run ``nbgrader generate_assignment`` (without touching the gradebook).

    Args:
        release_dir: where the release goes (default: ``<root>/exercises``).
        root: the course root holding ``nbgrader_config.py``.
        assignment: one assignment name, or ``"*"`` for all of them.
        variant: the variant to release (for ``"*"``: of every assignment that has variants);
            default: the course configuration's.

    Returns:
        The release folder.

    Raises:
        ValueError: for an unknown assignment or variant (a ``VariantError`` naming the cell for
            an overlay that does not fit its notebook); RuntimeError if nbgrader fails.
    """
    if assignment != "*" and assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment: got {assignment!r}, expected '*' or one of {ASSIGNMENTS}")
    root = course_root() if root is None else Path(root).resolve()
    release_dir = root / "exercises" if release_dir is None else Path(release_dir).resolve()
    names = ASSIGNMENTS if assignment == "*" else (assignment,)
    variants = {}
    for name in names:
        if variant is None:
            variants[name] = configured_variant(name, root)
        elif assignment == "*" and len(available_variants(name, root)) == 1:
            variants[name] = 0  # an assignment without variants
        else:
            variants[name] = variant
    if not any(variants.values()):
        _nbgrader_release(root, release_dir, assignment, None)
        return release_dir
    with tempfile.TemporaryDirectory(prefix="cnnbook-variants-") as staged:
        for name, k in variants.items():
            stage_source(name, k, Path(staged), root)
        _nbgrader_release(root, release_dir, assignment, Path(staged))
    return release_dir


def _nbgrader_release(
    root: Path, release_dir: Path, assignment: str, source_dir: Path | None
) -> None:
    command = [
        sys.executable,
        "-m",
        "nbgrader",
        "generate_assignment",
        assignment,
        "--force",
        "--no-db",
        f"--CourseDirectory.release_directory={release_dir}",
        "--log-level=WARN",
    ]
    if source_dir is not None:
        command.append(f"--CourseDirectory.source_directory={source_dir}")
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnbook.grading.release", description=__doc__)
    parser.add_argument("assignment", nargs="?", default="*", help="default: every assignment")
    parser.add_argument(
        "--variant",
        type=int,
        default=None,
        help="variant to release (default: c.CnnBook.variant in nbgrader_config.py)",
    )
    args = parser.parse_args(argv)
    try:
        release_dir = generate_release(assignment=args.assignment, variant=args.variant)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"release written to {release_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
