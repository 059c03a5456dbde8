"""How fast the autograder grades a class, jail included: solutions mixed with hostile ones.

For each assignment, N submissions are put into a temporary ``submitted/`` folder: copies of the
solution, and every ``--hostile-every``-th one a hostile variant (an endless loop, a memory bomb,
a fork bomb, a process that ends itself, a search of the file system), each otherwise the solution.
They are graded by the real pipeline (``cnnbook.grading.pipeline.grade_assignment``, every
submission in its own bubblewrap jail). The script prints the wall-clock time, the average per
submission (wall time / N, all cores together), the time a class of 200 would take (extrapolated
linearly from N, plus the one-off start-up), and whether every honest copy got full marks.

Targets: at most 3 s per submission on average, and 200 submissions of one assignment in under
10 minutes, on 2 cores.

Usage:
    .venv/bin/python benchmarks/bench_grading.py [--copies 40] [--hostile-every 10]
        [--jobs N] [--cell-timeout 10] [--assignment 02-convolution ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import nbformat

from cnnbook.grading.assignments import ASSIGNMENTS, course_root, source_notebook
from cnnbook.grading.pipeline import grade_assignment

# Prepended to the first answer cell: the rest of the submission is the solution.
HOSTILE = {
    "endless": "while True:\n    pass\n",
    "memory": "_hoard = []\ntry:\n    while True:\n        _hoard.append(bytearray(1 << 26))\n"
    "except MemoryError:\n    del _hoard\n",
    "fork-bomb": "import os as _os\ntry:\n    while True:\n        _os.fork()\nexcept OSError:\n"
    "    pass\n",
    "exit": "import os as _os\n_os._exit(0)\n",
    "search": "import glob as _glob\n_found = _glob.glob('/**/*.ipynb', recursive=True)\n",
}


def _class_of(folder: Path, assignment: str, copies: int, hostile_every: int) -> dict[str, str]:
    """Write the class; returns student -> what kind of submission it is."""
    source = nbformat.read(source_notebook(assignment), as_version=4)
    kinds = {}
    for i in range(copies):
        student = f"student{i:03d}"
        nb = nbformat.from_dict(source)
        kind = "honest"
        if hostile_every and i % hostile_every == hostile_every - 1:
            kind = list(HOSTILE)[(i // hostile_every) % len(HOSTILE)]
            nb = nbformat.from_dict(json.loads(json.dumps(source)))
            answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
            answer.source = HOSTILE[kind] + "\n" + answer.source
        path = folder / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        kinds[student] = kind
    return kinds


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _grade(
    assignment: str, copies: int, jobs: int, hostile_every: int, cell_timeout: float
) -> tuple[float, float, float, bool]:
    """Wall time of grading ``copies`` submissions, their CPU time, mean time of one, and whether
    every honest one got full marks (and no submission was a grader error)."""
    with tempfile.TemporaryDirectory() as scratch:
        kinds = _class_of(Path(scratch), assignment, copies, hostile_every)
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        results = grade_assignment(
            assignment,
            submitted_dir=Path(scratch),
            jobs=jobs,
            cell_timeout=cell_timeout,
            progress=False,
        )
        wall = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_started
    short = [
        r
        for r in results
        if r.status == "error"
        or (kinds[r.student] == "honest" and (r.status != "ok" or r.total < r.max_score))
    ]
    for r in short[:3]:  # say why, so a slow or overloaded machine is told from a real failure
        lost = [g for g, points in r.scores.items() if points == 0]
        print(
            f"  {assignment} {r.student}: {r.status} {r.total:g}/{r.max_score:g} {r.message} {lost}"
        )
    return wall, cpu, sum(r.seconds for r in results) / len(results), not short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--hostile-every", type=int, default=10, help="0: honest copies only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cell-timeout", type=float, default=10.0, help="seconds per cell")
    parser.add_argument("--assignment", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args()
    os.chdir(course_root())

    # Start-up (imports, data generation) is paid once per run: measure it with one submission
    # and report the per-submission cost of the rest. The load average tells whether other
    # work shared the cores.
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    hostile = f"1 in {args.hostile_every} hostile" if args.hostile_every else "no hostile"
    print(
        f"{args.copies} submissions of each assignment ({hostile}), {args.jobs} processes, "
        f"{args.cell_timeout:g} s per cell, each in a bubblewrap jail"
    )
    header = (
        f"{'assignment':22} {'start s':>7} {'wall s':>7} {'s/subm':>7} {'cpu/subm':>8} "
        f"{'run s':>6} {'200 subm':>9}  honest full marks"
    )
    print(header)
    print("-" * len(header))
    for assignment in args.assignment:
        startup, _, _, _ = _grade(assignment, 1, 1, 0, args.cell_timeout)  # once per run
        wall, cpu, run_s, full = _grade(
            assignment, args.copies, args.jobs, args.hostile_every, args.cell_timeout
        )
        per = wall / args.copies
        class_200 = startup + 200 * per
        print(
            f"{assignment:22} {startup:7.1f} {wall:7.1f} {per:7.2f} {cpu / args.copies:8.2f} "
            f"{run_s:6.2f} {class_200 / 60:7.1f} m  {'yes' if full else 'NO'}"
        )
    print(
        "start: the first run (imports, data, one submission); wall: the class, graded after"
        " it; s/subm: wall / submissions (all processes together); cpu/subm: CPU seconds per"
        " submission (grader and children; on N idle cores s/subm approaches cpu/subm / N);"
        " run s: mean time of one submission in its process; 200 subm: start + 200 x s/subm"
        " (extrapolated)."
    )


if __name__ == "__main__":
    main()
