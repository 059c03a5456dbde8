"""Command line of the grading pipeline: ``python -m cnnbook.grading grade ASSIGNMENT`` (scores
and feedback pages), ``python -m cnnbook.grading feedback ASSIGNMENT`` (the feedback pages again,
after manual grading) and ``python -m cnnbook.grading similarity ASSIGNMENT`` (the similarity
report)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .assignments import ASSIGNMENTS, course_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnbook.grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="autograde submitted/<student>/<assignment>/")
    grade.add_argument("assignment", choices=ASSIGNMENTS)
    grade.add_argument("--root", type=Path, default=None, help="course root (nbgrader_config.py)")
    grade.add_argument("--submitted", type=Path, default=None, help="default: <root>/submitted")
    grade.add_argument(
        "--output", type=Path, default=None, help="CSV of scores (default: grades-<assignment>.csv)"
    )
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    grade.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per cell")
    grade.add_argument(
        "--engine",
        choices=("jail", "trusted"),
        default="jail",
        help="jail (default): each submission's code runs in a bubblewrap jail, the tests in the "
        "grader; trusted: no jail, for your own notebooks only (see grading-protections)",
    )
    grade.add_argument(
        "--autograded",
        type=Path,
        default=None,
        help="folder for the executed notebooks, for feedback (default: <root>/autograded)",
    )
    grade.add_argument(
        "--no-autograded", action="store_true", help="do not keep the executed notebooks"
    )
    grade.add_argument(
        "--gradebook", action="store_true", help="also record the scores in nbgrader's gradebook"
    )
    grade.add_argument(
        "--feedback",
        type=Path,
        default=None,
        help="folder for the HTML feedback pages, <student>/<assignment>/<assignment>.html "
        "(default: <root>/feedback)",
    )
    grade.add_argument("--no-feedback", action="store_true", help="write no feedback pages")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--variant",
        type=int,
        default=None,
        help="the variant the submissions answer (default: c.CnnBook.variant in "
        "nbgrader_config.py; see assignments.md, Variants)",
    )
    similar = commands.add_parser(
        "similarity", help="similarity report: submissions vs each other and the package"
    )
    similar.add_argument("assignment", help=f"one of {', '.join(ASSIGNMENTS)}")
    similar.add_argument("--root", type=Path, default=None, help="course root (nbgrader_config.py)")
    similar.add_argument("--submitted", type=Path, default=None, help="default: <root>/submitted")
    similar.add_argument(
        "--threshold", type=float, default=None, help="flag pairs at this score or above"
    )
    similar.add_argument(
        "--output-dir", type=Path, default=None, help="where the CSV and HTML go (default: root)"
    )
    pages = commands.add_parser(
        "feedback",
        help="write the feedback pages again from autograded/ and the gradebook (after manual "
        "grading), without grading again",
    )
    pages.add_argument("assignment", choices=ASSIGNMENTS)
    pages.add_argument("--root", type=Path, default=None, help="course root (nbgrader_config.py)")
    pages.add_argument("--autograded", type=Path, default=None, help="default: <root>/autograded")
    pages.add_argument("--feedback", type=Path, default=None, help="default: <root>/feedback")
    args = parser.parse_args(argv)
    if args.command == "feedback":
        from .feedback import regenerate

        try:
            root = course_root() if args.root is None else args.root.resolve()
            written = regenerate(
                args.assignment,
                root,
                args.autograded or root / "autograded",
                args.feedback or root / "feedback",
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"wrote {len(written)} feedback pages of {args.assignment}")
        return 0
    if args.command == "similarity":
        from .similarity import DEFAULT_THRESHOLD, run

        threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        return run(args.assignment, args.root, args.submitted, threshold, args.output_dir)

    from .jail import JailUnavailable
    from .notebooks import grade_cells
    from .pipeline import grade_assignment, write_csv

    if args.engine == "trusted":
        print(
            "warning: --engine trusted runs the notebooks' code without a jail: it can read and "
            "change anything you can. Use it for your own notebooks, never for students' work.",
            file=sys.stderr,
        )
    from .variants import configured_variant, variant_source

    started = time.monotonic()
    try:
        root = course_root() if args.root is None else args.root.resolve()
        variant = args.variant
        if variant is None:
            variant = configured_variant(args.assignment, root)
        source = variant_source(args.assignment, variant, root)
        results = grade_assignment(
            args.assignment,
            root=root,
            submitted_dir=args.submitted,
            jobs=args.jobs,
            cell_timeout=args.cell_timeout,
            engine=args.engine,
            progress=not args.quiet,
            autograded_dir=None if args.no_autograded else (args.autograded or root / "autograded"),
            variant=variant,
        )
    except (ValueError, JailUnavailable) as error:  # say so without a traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    grade_ids = [cell.grade_id for cell in grade_cells(source)]
    output = args.output or root / f"grades-{args.assignment}.csv"
    write_csv(results, grade_ids, output)
    if args.gradebook:
        from .gradebook import record

        record(results, args.assignment, root)
    feedback_dir = None
    if not args.no_feedback:
        from .feedback import write_pages

        feedback_dir = args.feedback or root / "feedback"
        _, failed = write_pages(results, args.assignment, root, feedback_dir)
        for line in failed:
            print(f"  feedback page not written: {line}", file=sys.stderr)

    bad = [r for r in results if r.status != "ok"]
    print(
        f"graded {len(results)} submissions of {args.assignment} (variant {variant}) in "
        f"{elapsed:.1f} s "
        f"with {args.jobs} processes; scores in {output}"
        + (f", feedback pages in {feedback_dir}" if feedback_dir is not None else "")
    )
    for r in bad:
        print(f"  {r.student}: {r.status}: {r.message}", file=sys.stderr)
    errors = [r for r in results if r.status == "error"]
    if errors:
        print(
            f"GRADER ERROR: the grader failed on {len(errors)} submission(s) (status 'error' in "
            "the CSV): their scores are not the students' and must not be published",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
