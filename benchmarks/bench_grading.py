"""How fast the autograder grades a class: copies of the solution notebook, graded in parallel.

For each assignment, N copies of the solution are put into a temporary ``submitted/`` folder and
graded by the real pipeline (``cnnbook.grading.pipeline.grade_assignment``); the script prints the
wall-clock time, the average per submission (wall time / N, all cores together), the time a class
of 200 would take (extrapolated linearly from N, plus the one-off start-up), and, for a few copies,
the same with a fresh Jupyter kernel per submission (the way ``nbgrader autograde`` executes
notebooks) as a ratio.

Targets: at most 3 s per submission on average, and 200 submissions of one assignment in under
10 minutes, on 2 cores.

Usage:
    .venv/bin/python benchmarks/bench_grading.py [--copies 40] [--kernel-copies 4]
        [--jobs N] [--assignment 02-convolution ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import nbformat

from cnnbook.grading.assignments import ASSIGNMENTS, course_root, source_notebook
from cnnbook.grading.pipeline import grade_assignment


def _class_of(folder: Path, assignment: str, copies: int) -> Path:
    source = nbformat.read(source_notebook(assignment), as_version=4)
    for i in range(copies):
        path = folder / f"student{i:03d}" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(source, path)
    return folder


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _grade(
    assignment: str, copies: int, jobs: int, engine: str
) -> tuple[float, float, float, bool]:
    """Wall time of grading ``copies`` submissions, their CPU time, mean time of one, full marks."""
    with tempfile.TemporaryDirectory() as scratch:
        submitted = _class_of(Path(scratch), assignment, copies)
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        results = grade_assignment(
            assignment, submitted_dir=submitted, jobs=jobs, engine=engine, progress=False
        )
        wall = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_started
    short = [r for r in results if r.status != "ok" or r.total < r.max_score]
    for r in short[:3]:  # say why, so a slow or overloaded machine is told from a real failure
        lost = [g for g, points in r.scores.items() if points == 0]
        print(
            f"  {assignment} {r.student}: {r.status} {r.total:g}/{r.max_score:g} {r.message} {lost}"
        )
    return wall, cpu, sum(r.seconds for r in results) / len(results), not short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--kernel-copies", type=int, default=4, help="0 skips the kernel engine")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--engine", default="sandbox", choices=["sandbox", "fork"], help="the command's default"
    )
    parser.add_argument("--assignment", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args()
    os.chdir(course_root())

    # Start-up (imports, data generation) is paid once per run: measure it with one submission
    # and report the per-submission cost of the rest. The load average tells whether other
    # work shared the cores.
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{args.copies} copies of each solution, {args.jobs} processes, {args.engine} engine")
    header = (
        f"{'assignment':22} {'start s':>7} {'wall s':>7} {'s/subm':>7} {'cpu/subm':>8} "
        f"{'run s':>6} {'200 subm':>9} {'kernel s/subm':>13} {'ratio':>6}  full marks"
    )
    print(header)
    print("-" * len(header))
    for assignment in args.assignment:
        startup, _, _, _ = _grade(assignment, 1, 1, args.engine)  # imports, data: once per run
        wall, cpu, run_s, full = _grade(assignment, args.copies, args.jobs, args.engine)
        per = wall / args.copies
        class_200 = startup + 200 * per
        kernel = ""
        ratio = ""
        if args.kernel_copies:
            k_wall, _, _, k_full = _grade(assignment, args.kernel_copies, args.jobs, "kernel")
            k_per = k_wall / args.kernel_copies
            kernel = f"{k_per:13.2f}"
            ratio = f"{k_per / per:6.1f}"
            full = full and k_full
        print(
            f"{assignment:22} {startup:7.1f} {wall:7.1f} {per:7.2f} {cpu / args.copies:8.2f} "
            f"{run_s:6.2f} "
            f"{class_200 / 60:7.1f} m {kernel:>13} {ratio:>6}  {'yes' if full else 'NO'}"
        )
    print(
        "start: the first run (imports, data, one submission); wall: the copies, graded after"
        " it; s/subm: wall / copies (all processes together); cpu/subm: CPU seconds per"
        " submission (grader and children; on N idle cores s/subm approaches cpu/subm / N);"
        " run s: mean time of one submission in its process; 200 subm: start + 200 x s/subm"
        " (extrapolated); kernel: a fresh Jupyter kernel per submission (nbclient), ratio ="
        " kernel / chosen engine per submission."
    )


if __name__ == "__main__":
    main()
