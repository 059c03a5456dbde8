"""Run every chapter notebook top to bottom in a fresh kernel and say where each one computed.

    python scripts/run_chapters.py [--jobs N] [--out DIR] [NOTEBOOK ...]

Used to check the chapters on a machine other than CI's (a GPU machine, for instance): for each
notebook it prints pass/fail, the wall time and the chapter's own "computing on ..." line; with
``--out`` it also keeps the executed notebooks. Exits 1 if any chapter fails.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_one(path: str, out: str | None, timeout: int) -> tuple[str, bool, float, str, str]:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    error = ""
    try:
        client.execute()
    except Exception as exc:  # a failing cell: report it, keep going with the other chapters
        error = f"{type(exc).__name__}: {str(exc)[-1500:]}"
    seconds = time.perf_counter() - start
    where = ""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found = re.search(r"computing on [^\n]*", output.get("text", ""))
            if found and not where:
                where = found.group(0)
    if out:
        nbformat.write(nb, Path(out) / Path(path).name)
    return path, not error, seconds, where, error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: chapters/*.ipynb")
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at once")
    parser.add_argument("--out", default=None, help="folder for the executed notebooks")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted(str(p) for p in (ROOT / "chapters").glob("*.ipynb"))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(
            pool.map(run_one, paths, [args.out] * len(paths), [args.timeout] * len(paths))
        )
    for path, ok, seconds, where, error in results:
        print(f"{'ok  ' if ok else 'FAIL'} {Path(path).name:32} {seconds:6.1f} s  {where}")
        if error:
            print("     " + error.replace("\n", "\n     "))
    return 0 if all(ok for _, ok, *_ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
