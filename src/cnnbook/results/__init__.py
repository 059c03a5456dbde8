"""Results of experiments too heavy for the book's build, stored with their provenance.

A chapter whose experiment takes minutes (many seeds, long training) does not run it at build
time: a script in ``scripts/experiments/`` runs it and calls :func:`save`, which writes
``src/cnnbook/results/<name>.json`` with the numbers and how they were obtained (seeds, device,
versions, commit, time). The chapter calls :func:`load` and shows the provenance and the command
that reproduces it; a test re-runs a reduced version and checks agreement with tolerances.

The files ship inside the package, so a chapter opened in Colab finds them too.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent

__all__ = ["RESULTS_DIR", "load", "provenance", "save"]


def _check_name(name: str) -> str:
    plain = isinstance(name, str) and name.replace("-", "").replace("_", "").isalnum()
    if not plain:
        raise ValueError(f"name: expected letters, digits, '-' or '_', got {name!r}")
    return name


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=RESULTS_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(*, seeds, seconds: float, script: str, device: str | None = None) -> dict:
    """How a result was obtained: seeds, device, versions, commit, wall time, date, command."""
    import numpy
    import torch

    from cnnbook.device import describe_device

    return {
        "script": script,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else script,
        "seeds": [int(s) for s in seeds],
        "device": device or describe_device(),
        "seconds": round(float(seconds), 1),
        "date": _dt.date.today().isoformat(),
        "commit": _commit(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
        },
    }


def save(name: str, data: dict, prov: dict, directory: str | Path = RESULTS_DIR) -> Path:
    """Write ``<directory>/<name>.json`` holding ``{"provenance": prov, "data": data}``."""
    path = Path(directory) / f"{_check_name(name)}.json"
    text = json.dumps({"provenance": prov, "data": data}, indent=1, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def load(name: str, directory: str | Path = RESULTS_DIR) -> dict:
    """Read a stored result: a dict with ``"provenance"`` and ``"data"``."""
    path = Path(directory) / f"{_check_name(name)}.json"
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory).glob("*.json"))
        raise ValueError(f"name: no stored result {name!r} in {directory}; known: {known}")
    return json.loads(path.read_text(encoding="utf-8"))
