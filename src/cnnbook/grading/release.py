"""Regenerate the student release ``exercises/`` from ``solutions/`` with nbgrader.

``python -m cnnbook.grading.release`` (``make release``) runs ``nbgrader generate_assignment`` for
every assignment. The release holds no outputs, no solution code and no hidden test, and it is
reproducible: the drift test regenerates it into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .assignments import ASSIGNMENTS, course_root

__all__ = ["generate_release"]


def generate_release(
    release_dir: Path | None = None, root: Path | None = None, assignment: str = "*"
) -> Path:
    """Run ``nbgrader generate_assignment`` (without touching the gradebook).

    Args:
        release_dir: where the release goes (default: ``<root>/exercises``).
        root: the course root holding ``nbgrader_config.py``.
        assignment: one assignment name, or ``"*"`` for all of them.

    Returns:
        The release folder.

    Raises:
        ValueError: for an unknown assignment; RuntimeError if nbgrader fails.
    """
    if assignment != "*" and assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment: got {assignment!r}, expected '*' or one of {ASSIGNMENTS}")
    root = course_root() if root is None else Path(root).resolve()
    release_dir = root / "exercises" if release_dir is None else Path(release_dir).resolve()
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
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
    return release_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnbook.grading.release", description=__doc__)
    parser.add_argument("assignment", nargs="?", default="*", help="default: every assignment")
    args = parser.parse_args(argv)
    release_dir = generate_release(assignment=args.assignment)
    print(f"release written to {release_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
