"""Grade one submission so that the score depends only on what the student's functions compute.

The student's code cells run in a child process (:mod:`cnnbook.grading._child`) inside a
bubblewrap jail (:mod:`cnnbook.grading.jail`); every autograded test cell, always the trusted copy
from the SOURCE notebook, runs here in the grader, with each graded function it names (those the
source's solution cells define, and only those) bound to a proxy (:mod:`cnnbook.grading.proxy`).
A test cell passes when it runs to the end without an exception; the student's process can
neither see nor change the comparison. What else is checked:

- the submission is rejected quickly (with a message) if it is not a valid nbformat-4 notebook;
- tampering with instructor cells (deleted, edited, duplicated, turned into markdown, metadata or
  points changed) is reported; points and tests always come from the source;
- NumPy tasks that use torch, scipy or ``cnnbook`` score 0 with a message (static check, and the
  libraries are empty folders in a NumPy assignment's jail);
- time limits per call and per cell (the child is killed and restarted, the other tasks graded), a
  time limit per submission, memory and file-size limits, bounded output;
- if the student's process ends by itself (``sys.exit``, ``os._exit``, a signal) every test not yet
  graded scores 0;
- a failure of the grader (an instructor cell, a name a test lacks, the jail) makes the
  submission ``error``, never a silent 0.

Entry point: :func:`grade_notebook`. ``grading-protections.md`` documents all this for instructors.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _child, jail
from .proxy import (
    _BOOT,
    ChildDied,
    ChildSession,
    ChildTimeout,
    JailError,
    Launch,
    RemoteFunction,
    SandboxAbort,
    route_probes,
)

__all__ = [
    "CellResult",
    "InvalidNotebook",
    "Limits",
    "NotebookGrade",
    "check_tampering",
    "feedback_notebook",
    "forbidden_uses",
    "grade_many",
    "grade_notebook",
    "load_notebook",
]

# Libraries a NumPy task must not use (the reference implementations, and ready-made convolutions).
NUMPY_TASK_FORBIDDEN = ("torch", "scipy", "cnnbook", "jax", "tensorflow", "keras", "cv2", "skimage")
PROBES_MODULE = "cnnbook.grading.probes"
_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M
)


@dataclass(frozen=True)
class Limits:
    """What a submission may use.

    Args:
        call_timeout: seconds one call of a student function (from a test) may run.
        cell_timeout: seconds one cell may run: a student cell in the child, or a test cell's calls
            into the child all together.
        submission_timeout: seconds for the whole submission; tests not reached score 0.
        startup_timeout: seconds the child may take to start (imports included).
        memory_bytes: address space of the student's process (RLIMIT_AS, set from outside).
        file_bytes: largest file the student's code may write.
        scratch_bytes: all the files the student's code may write together (the jail's tmpfs).
        processes: processes and threads the student's code may run at once.
        open_files: file descriptors the student's process may hold.
        output_chars: printed output kept per reply (the rest is counted and dropped).
        message_bytes: largest result the child may send back.
        max_restarts: how many times a child killed for a time limit is replaced.
        notebook_bytes: largest notebook file accepted.
    """

    call_timeout: float = 20.0
    cell_timeout: float = 60.0
    submission_timeout: float = 600.0
    startup_timeout: float = 60.0
    memory_bytes: int = 6 << 30
    file_bytes: int = 64 << 20
    scratch_bytes: int = 256 << 20
    processes: int = 64
    open_files: int = 256
    output_chars: int = 20_000
    message_bytes: int = 64 << 20
    max_restarts: int = 3
    notebook_bytes: int = 20 << 20

    def __post_init__(self) -> None:
        for name in ("call_timeout", "cell_timeout", "submission_timeout", "startup_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name}: got {value!r}, expected a positive number of seconds")
        for name in (
            "memory_bytes",
            "file_bytes",
            "scratch_bytes",
            "processes",
            "open_files",
            "output_chars",
            "message_bytes",
            "notebook_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: got {value!r}, expected a positive integer")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts: got {self.max_restarts!r}, expected an integer >= 0")


@dataclass
class CellResult:
    """The outcome of one autograded test cell of the source notebook.

    ``status`` is ``"passed"``, ``"failed"`` (the test raised), ``"timeout"``, ``"crashed"`` (the
    student's process died during it), ``"not-run"`` (after a crash or past the submission's time
    limit), ``"forbidden"`` (a NumPy task used a forbidden library), ``"rejected"`` (invalid
    notebook) or ``"error"`` (the grader failed: an instructor cell, a missing name, the jail; the
    grader's fault, never the student's).
    """

    grade_id: str
    points: float
    max_points: float
    status: str
    message: str = ""


@dataclass
class NotebookGrade:
    """The grade of one submission: one :class:`CellResult` per autograded test cell, in source
    order, plus what was noticed on the way (tampering, forbidden libraries, sandbox notes)."""

    cells: list[CellResult]
    issues: list[str] = field(default_factory=list)
    rejected: str | None = None
    seconds: float = 0.0
    output: str = ""
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False  # a time limit stopped some of the student's code
    # position in the submitted notebook -> (error name, message) for student cells that failed
    cell_errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    # failures of the grader itself (instructor cells, the jail): the submission is ``error``
    grader_errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(c.points for c in self.cells))

    @property
    def max_total(self) -> float:
        return float(sum(c.max_points for c in self.cells))

    @property
    def scores(self) -> dict[str, float]:
        return {c.grade_id: c.points for c in self.cells}

    @property
    def status(self) -> str:
        """``"error"`` (the grader failed: see :attr:`grader_errors`), ``"invalid"`` (rejected),
        ``"crashed"`` (the student's process ended), ``"timeout"`` (a time limit was hit
        somewhere) or ``"ok"``."""
        statuses = {c.status for c in self.cells}
        if self.grader_errors or "error" in statuses:
            return "error"
        if self.rejected:
            return "invalid"
        if statuses & {"crashed", "not-run"}:
            return "crashed"
        return "timeout" if "timeout" in statuses or self.timed_out else "ok"

    @property
    def message(self) -> str:
        """One line for a CSV: why the submission was rejected or stopped, and what was noticed."""
        parts = [f"GRADER ERROR: {e}" for e in self.grader_errors]
        parts += [self.rejected] if self.rejected else []
        parts += [c.message for c in self.cells if c.status == "error"][:1]
        stopped = [c.message for c in self.cells if c.status in ("crashed", "not-run", "timeout")]
        parts += stopped[:1] + self.issues
        return "; ".join(dict.fromkeys(p for p in parts if p))[:2000]


class InvalidNotebook(ValueError):
    """A submission that is not a readable nbformat-4 notebook."""


# ----------------------------------------------------------------------------------------------
# Reading notebooks


def load_notebook(path: str | os.PathLike, max_bytes: int = 20 << 20) -> dict:
    """Read and check a notebook without trusting it.

    Raises:
        InvalidNotebook: too large, NUL bytes, not UTF-8, invalid JSON, nbformat < 4, or cells that
            are not a list of cells with a type and a source.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidNotebook(f"cannot read {path.name}: {error.strerror}") from None
    if size > max_bytes:
        raise InvalidNotebook(f"{path.name} is {size} bytes, more than the limit of {max_bytes}")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise InvalidNotebook(f"{path.name} contains NUL bytes: not a text notebook")
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidNotebook(f"{path.name} is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(
            f"{path.name} is not valid JSON "
            f"(line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    check_notebook(nb, path.name)
    return nb


def check_notebook(nb: Any, name: str = "notebook") -> None:
    """Raise :class:`InvalidNotebook` unless ``nb`` has the shape of an nbformat-4 notebook."""
    if not isinstance(nb, dict):
        raise InvalidNotebook(f"{name}: expected a JSON object, got {type(nb).__name__}")
    major = nb.get("nbformat")
    if not isinstance(major, int) or major < 4:
        raise InvalidNotebook(f"{name}: nbformat {major!r} is not supported, expected 4 or later")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise InvalidNotebook(f"{name}: has no list of cells")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidNotebook(f"{name}: cell {i} is not a code, markdown or raw cell")
        source = cell.get("source", "")
        if not (
            isinstance(source, str)
            or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        ):
            raise InvalidNotebook(f"{name}: cell {i} has a source that is not text")
        if not isinstance(cell.get("metadata", {}), dict):
            raise InvalidNotebook(f"{name}: cell {i} has metadata that is not an object")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not isinstance(meta, dict):
            raise InvalidNotebook(f"{name}: cell {i} has nbgrader metadata that is not an object")


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell: dict) -> str | None:
    grade_id = _meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) and grade_id else None


@dataclass
class _SourceCell:
    index: int
    cell_type: str
    role: str  # "test", "solution", "manual", "setup" (a code cell the instructor owns), "text"
    grade_id: str | None
    text: str
    points: float


def _source_cells(source: dict) -> list[_SourceCell]:
    cells = []
    for i, cell in enumerate(source["cells"]):
        meta = _meta(cell)
        kind = cell["cell_type"]
        if kind != "code":
            role = "text"
        elif meta.get("grade") and not meta.get("solution"):
            role = "test"
        elif meta.get("solution"):
            role = "manual" if meta.get("grade") else "solution"
        else:
            role = "setup"
        points = float(meta.get("points", 0) or 0) if meta.get("grade") else 0.0
        cells.append(_SourceCell(i, kind, role, _grade_id(cell), _text(cell), points))
    return cells


# ----------------------------------------------------------------------------------------------
# Tampering


def check_tampering(source: dict, submitted: dict) -> list[str]:
    """What the student changed in the cells the instructor owns (one sentence per finding).

    Compares by ``grade_id``: instructor cells deleted (or their metadata stripped), duplicated,
    changed into markdown, edited (tests are compared without their hidden part), points changed,
    and graded cells the source does not have. Grading always uses the source's cells and points
    whatever this reports.
    """
    issues = []
    by_id: dict[str, list[dict]] = {}
    for cell in submitted["cells"]:
        grade_id = _grade_id(cell)
        if grade_id:
            by_id.setdefault(grade_id, []).append(cell)
    known = set()
    submitted_texts = {_normalise(_text(c)) for c in submitted["cells"] if not _grade_id(c)}
    for cell in _source_cells(source):
        if not cell.grade_id or cell.role == "text" and not _meta(source["cells"][cell.index]):
            continue
        known.add(cell.grade_id)
        copies = by_id.get(cell.grade_id, [])
        what = {"test": "test cell", "solution": "solution cell", "manual": "answer cell"}.get(
            cell.role, "read-only cell"
        )
        if not copies:
            versions = {_normalise(_HIDDEN.sub("", cell.text)), _normalise(cell.text)} - {""}
            if cell.role in ("test", "setup") and versions & submitted_texts:
                issues.append(f"{what} {cell.grade_id}: its nbgrader metadata was stripped")
            else:
                issues.append(f"{what} {cell.grade_id}: deleted")
            continue
        if len(copies) > 1:
            issues.append(f"{what} {cell.grade_id}: duplicated ({len(copies)} copies)")
        got = copies[0]
        if got["cell_type"] != cell.cell_type:
            issues.append(
                f"{what} {cell.grade_id}: turned from {cell.cell_type} into {got['cell_type']}"
            )
        if cell.role in ("test", "setup") and _edited(got, cell):
            issues.append(f"{what} {cell.grade_id}: edited")
        meta = _meta(got)
        if cell.role in ("test", "manual"):
            try:
                claimed = float(meta.get("points", 0) or 0)
            except (TypeError, ValueError):
                claimed = float("nan")
            if claimed != cell.points:
                issues.append(
                    f"{what} {cell.grade_id}: points changed from {cell.points:g} to "
                    f"{meta.get('points')!r}"
                )
        src_meta = _meta(source["cells"][cell.index])
        for key in ("grade", "solution", "locked"):
            if bool(meta.get(key)) != bool(src_meta.get(key)):
                issues.append(f"{what} {cell.grade_id}: metadata {key!r} changed")
    for grade_id, copies in by_id.items():
        if grade_id not in known and any(_meta(c).get("grade") for c in copies):
            issues.append(f"graded cell {grade_id}: not in the source (ignored)")
    return issues


def _edited(got: dict, cell: _SourceCell) -> bool:
    """Whether a submitted instructor cell differs from what the student was given: by
    nbgrader's checksum when the release stored one, else by text (hidden tests stripped)."""
    checksum = _meta(got).get("checksum")
    if isinstance(checksum, str) and _meta(got).get("grade_id"):
        try:
            return _nbgrader_checksum(got) != checksum
        except (TypeError, ValueError):  # odd metadata: compare the text instead
            pass
    text = _normalise(_text(got))
    return text not in (_normalise(cell.text), _normalise(_HIDDEN.sub("", cell.text)))


def _nbgrader_checksum(cell: dict) -> str:
    """nbgrader's cell checksum (``nbgrader.utils.compute_checksum``), without importing
    nbgrader (seconds of start-up): MD5 over source, type, grade/solution/locked flags, grade_id
    and points."""
    meta = _meta(cell)
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    locked = False if solution else (True if grade else meta.get("locked", False))
    digest = hashlib.md5()
    for part in (_text(cell), cell["cell_type"], grade, solution, locked, meta["grade_id"]):
        digest.update(str(part).encode("utf-8"))
    if grade:
        digest.update(str(float(meta["points"])).encode("utf-8"))
    return digest.hexdigest()


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


# ----------------------------------------------------------------------------------------------
# Static check of NumPy tasks


def _module_aliases(code: str, forbidden: tuple[str, ...]) -> set[str]:
    """Names that ``code`` binds to a forbidden module (``import torch.nn.functional as F``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] in forbidden:
                    names.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.partition(".")[0] in forbidden:
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def forbidden_uses(
    code: str,
    forbidden: tuple[str, ...] = NUMPY_TASK_FORBIDDEN,
    aliases: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Where ``code`` imports or names a forbidden library (``line N: ...``), for NumPy tasks.

    Catches imports, names bound to those libraries elsewhere (``aliases``, e.g. ``F``), and
    strings that spell a module path (``importlib.import_module("scipy.signal")``).
    """
    try:
        tree = ast.parse(_ipython_to_python(code))
    except SyntaxError:
        return []
    spelled = re.compile("^(" + "|".join(map(re.escape, forbidden)) + r")(\.\w+)*$")
    # a name the code binds itself (``F, C, kh, kw = w.shape``, an argument) is its own
    # variable, not the library that the instructor's set-up cell bound to that name
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    } | {
        a.arg
        for n in ast.walk(tree)
        if isinstance(n, ast.arguments)
        for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, *filter(None, (n.vararg, n.kwarg)))
    }
    aliases = set(aliases) - bound
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] in forbidden:
                    found.append(f"line {line}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.partition(".")[0] in forbidden:
                found.append(f"line {line}: from {node.module} import ...")
        elif (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and (node.id in forbidden or node.id in aliases)
        ):
            found.append(f"line {line}: uses {node.id}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if spelled.match(node.value):
                found.append(f"line {line}: names the module {node.value!r}")
    return sorted(set(found), key=lambda s: int(s.split()[1].rstrip(":")))


def _defined_names(code: str, functions_only: bool = False) -> set[str]:
    try:
        tree = ast.parse(_ipython_to_python(code))
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif functions_only:
            continue
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
    return names


def _used_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _uses_torch(code: str, aliases: set[str]) -> bool:
    return bool(forbidden_uses(code, ("torch",), aliases))


# ----------------------------------------------------------------------------------------------
# IPython syntax (magics) in cells


def _ipython_to_python(code: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # plain Python cells only
        return code
    try:
        return TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - leave it to the compiler to report
        return code


# ----------------------------------------------------------------------------------------------
# The plan: which cells run where, in which order


@dataclass
class _ChildCell:
    position: int  # index in the submitted notebook
    code: str
    name: str
    lenient: bool  # an instructor cell: statements using a forbidden library are skipped


@dataclass
class _ParentCell:
    position: int  # the child runs every child cell at or before this position first
    cell: _SourceCell


def _plan(
    source_cells: list[_SourceCell], submitted: dict
) -> tuple[list[_ChildCell], list[_ParentCell]]:
    by_id = {c.grade_id: c for c in source_cells if c.grade_id}
    setup_texts = {_normalise(c.text) for c in source_cells if c.role == "setup"}
    first_position: dict[str, int] = {}
    child_cells = []
    for i, cell in enumerate(submitted["cells"]):
        grade_id = _grade_id(cell)
        if grade_id and grade_id not in first_position:
            first_position[grade_id] = i
        src = by_id.get(grade_id) if grade_id else None
        if cell["cell_type"] != "code":
            continue
        if src is not None and src.role == "test":
            continue  # tests run in the grader, from the source
        if src is not None and src.role == "setup":
            if first_position[grade_id] != i:
                continue  # a duplicated read-only cell
            child_cells.append(_ChildCell(i, src.text, f"<cell {i}: {grade_id}>", True))
            continue
        text = _text(cell)
        lenient = src is None and _normalise(text) in setup_texts
        child_cells.append(_ChildCell(i, text, f"<cell {i}>", lenient))

    parent_cells = []
    end = len(submitted["cells"])
    previous = -1
    for k, cell in enumerate(source_cells):
        if cell.role not in ("test", "setup"):
            continue
        if cell.grade_id in first_position:
            position = first_position[cell.grade_id]
        else:
            # deleted or metadata stripped: just before the next instructor cell still there
            position = next(
                (
                    first_position[c.grade_id] - 1
                    for c in source_cells[k + 1 :]
                    if c.grade_id in first_position
                ),
                end,
            )
        position = max(position, previous)
        previous = position
        parent_cells.append(_ParentCell(position, cell))
    return child_cells, parent_cells


# ----------------------------------------------------------------------------------------------
# Running


class _BoundedText(io.StringIO):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, text: str) -> int:
        room = self.limit - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


ENGINES = ("jail", "trusted")


def _child_env(home: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": home,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",  # grading runs on the CPU, GPU or not
        "CNNBOOK_OFFLINE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env


def _library_dirs(names: tuple[str, ...]) -> list[str]:
    """Where the given top-level packages are installed (without importing them)."""
    import importlib.util

    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(str(Path(location).resolve()))
    return found


def _launcher(engine: str, kind: str, workdir: Path, limits: Limits) -> tuple[dict, Callable]:
    """The child's configuration as it sees it, and a function that builds each :class:`Launch`.

    ``jail``: bubblewrap with every namespace unshared (:mod:`cnnbook.grading.jail`); the
    student's folder is at ``/submission`` (read-only) and is copied into the scratch tmpfs
    ``/work``. ``trusted``: a plain process with the same resource limits, for one's own notebooks.
    """
    import cnnbook

    package = Path(cnnbook.__file__).resolve().parent
    jail_limits = jail.JailLimits(
        memory_bytes=limits.memory_bytes,
        cpu_seconds=int(limits.submission_timeout) + 30,
        file_bytes=limits.file_bytes,
        open_files=limits.open_files,
        processes=limits.processes,
        scratch_bytes=limits.scratch_bytes,
    )
    submission = workdir / "submission"
    stderr_path = workdir / "jail-stderr.txt"
    if engine == "trusted":
        scratch = workdir / "scratch"
        shutil.copytree(submission, scratch)
        config = {"workdir": str(scratch), "submission": None, "package_root": None}
        argv_child, env = str(_child.__file__), _child_env(str(scratch))
    else:
        config = {"workdir": jail.SCRATCH, "submission": jail.SUBMISSION, "package_root": None}
        argv_child, env = f"{jail.GRADER_DIR}/_child.py", _child_env(jail.SCRATCH)
        grader_files = {"_child.py": str(Path(_child.__file__).resolve())}
        hidden = []
        if kind == "torch":
            # the grader's own package, so both sides run the same code; the NumPy reference
            # is not readable in any jail
            grader_files["cnnbook"] = str(package)
            hidden.append(f"{jail.GRADER_DIR}/cnnbook/numpy_ref")
            config["package_root"] = jail.GRADER_DIR
        else:
            # a NumPy task: the libraries it must not use are empty folders in its jail
            hidden += _library_dirs(NUMPY_TASK_FORBIDDEN)

    def launch(fd_in: int, fd_out: int) -> Launch:
        argv = [sys.executable, "-I", "-c", _BOOT, argv_child, str(fd_in), str(fd_out)]
        if engine == "trusted":
            return Launch(
                argv,
                env,
                cwd=config["workdir"],
                preexec=lambda: jail.set_limits(jail_limits, None, None),
            )
        cgroup = jail.PidsCgroup(jail_limits.processes)
        nproc = jail.process_limit(jail_limits, cgroup)
        command = jail.jail_command(
            argv,
            submission_dir=submission,
            grader_files=grader_files,
            hidden=hidden,
            scratch_bytes=jail_limits.scratch_bytes,
            env=env,
        )
        stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed by the cleanup below
        return Launch(
            command,
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            preexec=lambda: jail.set_limits(jail_limits, cgroup, nproc),
            stderr=stderr,
            on_cleanup=[cgroup.remove, stderr.close],
        )

    return config, launch


def _graded_functions(source_cells: list[_SourceCell]) -> frozenset[str]:
    """The functions the student writes: those the source's solution cells define. A test cell
    may take these, and only these, from the student's process."""
    names: set[str] = set()
    for cell in source_cells:
        if cell.role == "solution":
            with contextlib.suppress(SyntaxError):
                names |= _defined_names(_ipython_to_python(cell.text), functions_only=True)
    return frozenset(names)


def _setup_imports(source_cells: list[_SourceCell]) -> list[str]:
    names = []
    for cell in source_cells:
        if cell.role != "setup":
            continue
        try:
            tree = ast.parse(_ipython_to_python(cell.text))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    return list(dict.fromkeys(names))


def _copy_folder(src: Path, dst: Path, max_bytes: int = 200 << 20) -> None:
    """Copy the submission's folder (plain files only, no links) into the child's folder."""
    total = 0
    for path in sorted(src.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        if total > max_bytes:
            break
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _one_thread_per_worker() -> None:
    """Pool initializer: test cells' oracles run on tiny tensors, and ``jobs`` workers already use
    the cores, so a second torch or BLAS thread per worker only oversubscribes them."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def grade_notebook(
    source_nb: str | os.PathLike | dict,
    submitted_path: str | os.PathLike,
    *,
    limits: Limits | None = None,
    kind: str | None = None,
    engine: str = "jail",
) -> NotebookGrade:
    """Grade one submitted notebook against the instructor's source notebook.

    Args:
        source_nb: the source notebook (``solutions/<a>/<a>.ipynb``) as a path or parsed JSON.
        submitted_path: ``submitted/<student>/<a>/<a>.ipynb``; its folder's files are copied
            into the student's private working folder.
        limits: time, memory and output limits (default :class:`Limits`).
        kind: ``"numpy"`` (the child never imports torch; torch, scipy and cnnbook are off limits)
            or ``"torch"``; default: ``"torch"`` when the source's solution cells use torch.
        engine: ``"jail"`` (the default: the student's code runs in a bubblewrap jail, see
            :mod:`cnnbook.grading.jail`) or ``"trusted"`` (a plain process, for one's own
            notebooks only: nothing stops the code from reading or changing the machine).

    Returns:
        A :class:`NotebookGrade` with one :class:`CellResult` per autograded test cell of the
        source, in source order. An invalid submission gets ``rejected`` set and zero everywhere.
    """
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise ValueError(f"limits: got {type(limits).__name__}, expected a sandbox.Limits")
    if engine not in ENGINES:
        raise ValueError(f"engine: got {engine!r}, expected one of {ENGINES}")
    if engine == "jail":
        jail.require_bwrap()  # JailUnavailable says what to install
    started = time.monotonic()
    source_path = None
    if isinstance(source_nb, dict):
        source = source_nb
    else:
        source_path = Path(source_nb)
        source = load_notebook(source_path, max_bytes=1 << 30)
    check_notebook(source, "source_nb")
    cells = _source_cells(source)
    tests = [c for c in cells if c.role == "test"]
    submitted_path = Path(submitted_path)

    def all_zero(status: str, message: str) -> list[CellResult]:
        return [
            CellResult(c.grade_id or f"cell-{c.index}", 0.0, c.points, status, message)
            for c in tests
        ]

    try:
        submitted = load_notebook(submitted_path, limits.notebook_bytes)
    except InvalidNotebook as error:
        return NotebookGrade(
            all_zero("rejected", str(error)), [str(error)], str(error), time.monotonic() - started
        )

    aliases = set()
    for cell in cells:
        if cell.role == "setup":
            aliases |= _module_aliases(_ipython_to_python(cell.text), NUMPY_TASK_FORBIDDEN)
    solution_uses_torch = {
        c.grade_id: _uses_torch(c.text, aliases) for c in cells if c.role == "solution"
    }
    if kind is None:
        kind = "torch" if any(solution_uses_torch.values()) else "numpy"
    if kind not in ("numpy", "torch"):
        raise ValueError(f"kind: got {kind!r}, expected 'numpy' or 'torch'")

    issues = check_tampering(source, submitted)
    child_cells, parent_cells = _plan(cells, submitted)
    forced = _static_verdicts(
        cells, submitted, child_cells, kind, aliases, solution_uses_torch, issues
    )

    workdir = Path(tempfile.mkdtemp(prefix="cnnbook-grading-"))
    runner = None
    try:
        _copy_folder(submitted_path.parent, workdir / "submission")
        (workdir / "submission").mkdir(exist_ok=True)
        preload = ["numpy"]
        if kind == "torch":
            preload += ["torch", PROBES_MODULE] + _setup_imports(cells)
        else:
            preload += [
                m for m in _setup_imports(cells) if m.partition(".")[0] not in NUMPY_TASK_FORBIDDEN
            ]
        config, launch = _launcher(engine, kind, workdir, limits)
        config.update(
            {
                "blocked_modules": list(NUMPY_TASK_FORBIDDEN) if kind == "numpy" else [],
                "preload": preload,
                "probes_module": PROBES_MODULE,
                "output_chars": limits.output_chars,
                "message_bytes": limits.message_bytes,
            }
        )
        runner = _Runner(
            config,
            launch,
            limits,
            child_cells,
            parent_cells,
            forced,
            started,
            _graded_functions(cells),
            kind,
        )
        results = runner.run()
        issues += runner.issues
    finally:
        if runner is not None:
            runner.session.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return NotebookGrade(
        results,
        issues,
        None,
        time.monotonic() - started,
        runner.session.output,
        runner.session.notes,
        bool(runner.skip) or any(c.status == "timeout" for c in results),
        runner.cell_errors,
        runner.grader_errors,
    )


def feedback_notebook(source: dict, submitted: dict, grade: NotebookGrade) -> dict:
    """The graded notebook for feedback and for ``autograded/``: the student's cells in their
    order, every test cell restored from the source where the plan ran it, and outputs that say
    what happened (an error output for a failed cell, the points for a passed test).

    Args:
        source, submitted: the parsed notebooks (the submission must be valid).
        grade: what :func:`grade_notebook` returned for them.
    """
    cells = _source_cells(source)
    by_id = {c.grade_id: c for c in cells if c.grade_id}
    results = {c.grade_id: c for c in grade.cells}
    _, parent_cells = _plan(cells, submitted)
    placed = {p.cell.grade_id: p.position for p in parent_cells if p.cell.role == "test"}
    seen: set[str] = set()
    out_cells = []

    def test_cell(src: _SourceCell) -> dict:
        result = results.get(src.grade_id)
        cell = copy.deepcopy(source["cells"][src.index])
        cell["execution_count"] = None
        # the feedback goes back to the student: hidden tests stay hidden
        cell["source"] = _HIDDEN.sub("# (hidden tests: their code is not shown)\n", _text(cell))
        if result is None or result.status == "passed":
            text = f"{result.points:g} of {result.max_points:g} points\n" if result else ""
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text}]
        else:
            name = {
                "timeout": "CellTimeoutError",
                "crashed": "ProcessEnded",
                "not-run": "NotGraded",
                "forbidden": "ForbiddenLibrary",
            }.get(result.status)
            name = name or result.message.partition(":")[0] or "Error"
            cell["outputs"] = [
                {
                    "output_type": "error",
                    "ename": name,
                    "evalue": result.message,
                    "traceback": [result.message],
                }
            ]
        return cell

    for position, cell in enumerate(submitted["cells"]):
        for grade_id, at in placed.items():  # tests put back where the plan ran them
            if at == position - 1 and grade_id not in seen and _grade_id(cell) != grade_id:
                if grade_id not in {_grade_id(c) for c in submitted["cells"]}:
                    out_cells.append(test_cell(by_id[grade_id]))
                    seen.add(grade_id)
        grade_id = _grade_id(cell)
        src = by_id.get(grade_id) if grade_id else None
        if src is not None and src.role == "test":
            if grade_id not in seen:
                out_cells.append(test_cell(src))
                seen.add(grade_id)
            continue
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            error = grade.cell_errors.get(position)
            cell["outputs"] = (
                []
                if error is None
                else [
                    {
                        "output_type": "error",
                        "ename": error[0],
                        "evalue": error[1],
                        "traceback": [f"{error[0]}: {error[1]}"],
                    }
                ]
            )
        out_cells.append(cell)
    for grade_id in placed:
        if grade_id not in seen:
            out_cells.append(test_cell(by_id[grade_id]))
    nb = copy.deepcopy({k: v for k, v in source.items() if k != "cells"})
    nb["cells"] = out_cells
    return nb


def grade_many(
    source_nb: str | os.PathLike,
    submissions: Mapping[str, str | os.PathLike],
    *,
    jobs: int | None = None,
    limits: Limits | None = None,
    kind: str | None = None,
    engine: str = "jail",
    on_done: Callable[[str, NotebookGrade], None] | None = None,
) -> dict[str, NotebookGrade]:
    """Grade many submissions of one assignment, ``jobs`` at a time (grader processes).

    Each grader process handles one submission at a time with :func:`grade_notebook` (a fresh
    jail and a fresh test namespace per submission). A grader process that dies takes nothing
    with it: the pool is replaced and every submission not yet graded is graded again; one that
    kills its grader process twice is marked ``error`` (the grader's failure, reported).

    Args:
        source_nb: the instructor's source notebook.
        submissions: key (e.g. the student id) -> path of the submitted notebook.
        jobs: grader processes (default: the number of cores).
        limits, kind, engine: as for :func:`grade_notebook`.
        on_done: called with each ``(key, grade)`` as soon as it is known (a progress bar).

    Returns:
        key -> :class:`NotebookGrade`, in the order of ``submissions``.

    Raises:
        jail.JailUnavailable: the ``jail`` engine on a machine without a working bubblewrap.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    jobs = jobs or os.cpu_count() or 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: got {jobs!r}, expected a positive number of processes")
    if engine not in ENGINES:
        raise ValueError(f"engine: got {engine!r}, expected one of {ENGINES}")
    if engine == "jail":
        jail.require_bwrap()
    limits = Limits() if limits is None else limits
    source_path = str(Path(source_nb).resolve())
    cells = _source_cells(load_notebook(source_path, max_bytes=1 << 30))
    results: dict[str, NotebookGrade] = {}
    broke: dict[str, int] = {}

    def failed(message: str) -> NotebookGrade:
        zero = [
            CellResult(c.grade_id or f"cell-{c.index}", 0.0, c.points, "error", message)
            for c in cells
            if c.role == "test"
        ]
        return NotebookGrade(zero, [], grader_errors=[message])

    def finish(key: str, grade: NotebookGrade) -> None:
        results[key] = grade
        if on_done is not None:
            on_done(key, grade)

    # "spawn": a grader process starts clean and never inherits another submission's state
    context = multiprocessing.get_context("spawn")
    while len(results) < len(submissions):
        pending = [k for k in submissions if k not in results]
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_one_thread_per_worker
        ) as pool:
            futures = {
                pool.submit(
                    grade_notebook, source_path, str(submissions[k]), limits=limits, kind=kind,
                    engine=engine,
                ): k
                for k in pending
            }  # fmt: skip
            for future in as_completed(futures):
                key = futures[future]
                try:
                    finish(key, future.result())
                except BrokenProcessPool:
                    broke[key] = broke.get(key, 0) + 1
                    if broke[key] >= 2:
                        finish(key, failed("a grader process died twice while grading this"))
                except Exception as error:  # noqa: BLE001 - one broken grading must not stop the rest
                    finish(key, failed(f"the grader failed: {type(error).__name__}: {error}"))
    return {key: results[key] for key in submissions}


def _static_verdicts(
    cells, submitted, child_cells, kind, aliases, solution_uses_torch, issues
) -> dict[str, str]:
    """Test cells (grade_id -> message) that score 0 because a NumPy task used a forbidden
    library."""
    numpy_solutions = {g for g, uses in solution_uses_torch.items() if not uses}
    student_aliases = set(aliases)
    for cell in child_cells:
        if not cell.lenient:
            student_aliases |= _module_aliases(_ipython_to_python(cell.code), NUMPY_TASK_FORBIDDEN)
    order = [c for c in cells if c.role in ("test", "solution")]
    forced: dict[str, str] = {}
    for cell in child_cells:
        if cell.lenient:
            continue
        grade_id = _grade_id(submitted["cells"][cell.position])
        if kind == "torch" and grade_id not in numpy_solutions:
            continue  # a PyTorch task, or a cell of the student's own
        found = forbidden_uses(cell.code, NUMPY_TASK_FORBIDDEN, student_aliases)
        if not found:
            continue
        label = grade_id or f"cell {cell.position}"
        message = (
            f"{label} uses a library a NumPy task must not use ({'; '.join(found[:3])}): "
            "write it with NumPy"
        )
        issues.append(message)
        defined = _defined_names(cell.code, functions_only=True)
        hit = set()
        if grade_id in numpy_solutions:  # the tests that follow this task's solution cell
            k = next(i for i, c in enumerate(order) if c.grade_id == grade_id)
            for c in order[k + 1 :]:
                if c.role == "solution":
                    break
                hit.add(c.grade_id)
        for c in cells:
            if c.role == "test" and _used_names(_ipython_to_python(c.text)) & defined:
                hit.add(c.grade_id)
        for g in hit:
            forced.setdefault(g, message)
    return forced


class _Runner:
    """Runs the plan: child cells in the student's process, test cells here, with restarts."""

    def __init__(
        self,
        config,
        launch,
        limits: Limits,
        child_cells,
        parent_cells,
        forced,
        started,
        graded_functions: frozenset[str],
        kind: str,
    ):
        self.limits = limits
        self.graded_functions = graded_functions
        self.kind = kind
        self.grader_errors: list[str] = []
        self.child_cells = child_cells
        self.parent_cells = parent_cells
        self.forced = forced
        self.deadline = started + limits.submission_timeout
        self.session = ChildSession(
            config,
            launch,
            max_message_bytes=limits.message_bytes + 4 * limits.output_chars + (1 << 20),
            output_chars=limits.output_chars,
        )
        self.session.call_timeout = limits.call_timeout
        self.issues: list[str] = []
        self.cell_errors: dict[int, tuple[str, str]] = {}
        self.done: list[_ChildCell] = []  # child cells run so far (replayed after a restart)
        self.skip: set[int] = set()  # child cells that ran past the time limit
        self.next_child = 0
        self.restarts = 0
        self.dead: str | None = None  # why the student's process is gone for good
        self.ns: dict = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "get_ipython": _child.get_ipython,
        }
        self.injected: dict[str, Any] = {}  # names bound from the student's process

    def run(self) -> list[CellResult]:
        results = []
        try:
            self._start()
        except JailError as error:
            self.grader_errors.append(str(error))
            self.dead = f"the grader could not start the student's process: {error}"
        except SandboxAbort as error:
            self.dead = f"the student's process could not start: {error}"
        with route_probes(PROBES_MODULE), _warnings_kept():
            for item in self.parent_cells:
                cell = item.cell
                result = None
                if time.monotonic() > self.deadline:
                    self.dead = self.dead or "the submission ran past its total time limit"
                if self.dead is None:
                    self._advance(item.position)
                if cell.role == "setup":
                    if self.dead is None:
                        self._run_parent(cell)
                    continue
                if self.dead is not None:
                    result = CellResult(
                        cell.grade_id, 0.0, cell.points, "not-run", f"not graded: {self.dead}"
                    )
                else:
                    result = self._run_test(cell)
                if cell.grade_id in self.forced and result.status != "not-run":
                    result = CellResult(
                        cell.grade_id, 0.0, cell.points, "forbidden", self.forced[cell.grade_id]
                    )
                results.append(result)
        self.session.close()
        return results

    # -- the student's process ----------------------------------------------------------------
    def _start(self) -> None:
        self.session.budget = None
        self.session.start(timeout=self.limits.startup_timeout)
        root = self.session.config.get("package_root")
        if root and not any(f"package: {root}/" in note for note in self.session.notes):
            # the jail must run the grader's own package, or the two sides disagree silently
            raise JailError(
                f"the student's process imported cnnbook from elsewhere than {root} "
                f"({'; '.join(self.session.notes) or 'not at all'})"
            )

    def _advance(self, position: int) -> None:
        while (
            self.dead is None
            and self.next_child < len(self.child_cells)
            and self.child_cells[self.next_child].position <= position
        ):
            cell = self.child_cells[self.next_child]
            self.next_child += 1
            self._exec_child(cell)

    def _exec_child(self, cell: _ChildCell, replay: bool = False) -> None:
        budget = min(self.limits.cell_timeout, max(0.1, self.deadline - time.monotonic()))
        self.session.budget = None
        try:
            self.session.exec_cell(_ipython_to_python(cell.code), cell.name, cell.lenient, budget)
        except ChildTimeout:
            self.skip.add(cell.position)
            message = f"{cell.name} ran past the time limit ({budget:g} s) and was skipped"
            self.issues.append(message)
            self.cell_errors[cell.position] = ("CellTimeoutError", message)
            self._restart()
            return
        except SandboxAbort as error:
            self.cell_errors[cell.position] = ("ProcessEnded", str(error))
            self._died(error)
            return
        except Exception as error:  # noqa: BLE001 - an error in the student's cell is the student's
            if not replay:
                self.cell_errors[cell.position] = (type(error).__name__, str(error)[:1000])
            if cell.lenient and not replay:
                # an instructor cell that fails in the jail is the grader's problem (a package
                # missing there, data it cannot make), even if it takes the student's task down
                self.grader_errors.append(
                    f"instructor cell {cell.name} failed in the student's process: "
                    f"{type(error).__name__}: {str(error)[:300]}"
                )
        if not replay:
            self.done.append(cell)

    def _restart(self) -> None:
        """After a time limit: a fresh process, and the cells run so far run again."""
        if self.restarts >= self.limits.max_restarts:
            self.dead = "too many time limits; the rest of the submission was not graded"
            self.session.kill()
            return
        self.restarts += 1
        try:
            self._start()
        except JailError as error:
            self.grader_errors.append(str(error))
            self.dead = f"the grader could not restart the student's process: {error}"
            return
        except SandboxAbort as error:
            self.dead = f"the student's process could not restart: {error}"
            return
        for cell in list(self.done):
            if self.dead is not None:
                return
            if cell.position not in self.skip:
                self._exec_child(cell, replay=True)

    def _died(self, error: BaseException) -> None:
        if isinstance(error, ChildTimeout):
            self._restart()
            return
        self.dead = str(error) or "the student's process ended"
        self.session.kill()

    # -- the grader's side --------------------------------------------------------------------
    def _bind_student_names(self, code: str) -> None:
        """Bind the graded functions the cell uses (proxies into the student's process).

        Only the functions the source's solution cells define are taken from the student; any
        other name a test uses must come from the instructor's cells run here, or the test fails
        as the grader's error. A graded function the student did not define (or defined as
        something that is not a function) becomes a stand-in that fails the test that calls it.
        """
        for name, value in list(self.injected.items()):
            if self.ns.get(name) is not value:
                del self.injected[name]  # the instructor's code rebound it: it is trusted now
            else:
                del self.ns[name]
        wanted = (_used_names(code) | set(self.injected)) & self.graded_functions
        wanted -= {n for n in wanted if n in self.ns}
        self.injected = {}
        if not wanted:
            return
        values = self.session.resolve(sorted(wanted))
        for name in sorted(wanted):
            value = values.get(name)
            if not isinstance(value, RemoteFunction):
                value = _missing_function(name, value)
            self.ns[name] = value
            self.injected[name] = value

    def _exec_parent(self, cell: _SourceCell) -> tuple[Any, str]:
        """Run an instructor cell here; returns (value of a final expression, printed text)."""
        code = _ipython_to_python(cell.text)
        tree = ast.parse(code, filename=f"<{cell.grade_id or cell.index}>")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        self.session.aborts.clear()
        self.session.budget = min(
            self.limits.cell_timeout, max(0.1, self.deadline - time.monotonic())
        )
        printed = _BoundedText(self.limits.output_chars)
        try:
            self._bind_student_names(code)
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                exec(compile(tree, f"<{cell.grade_id}>", "exec"), self.ns)
                value = eval(compile(last, f"<{cell.grade_id}>", "eval"), self.ns) if last else None
        finally:
            self.session.budget = None
        return value, printed.getvalue()

    def _run_parent(self, cell: _SourceCell) -> None:
        try:
            self._exec_parent(cell)
        except SandboxAbort as error:
            self._died(error)
        except Exception as error:  # noqa: BLE001 - e.g. a demo calling an unfinished function
            message = (
                f"instructor cell {cell.grade_id or cell.index} raised "
                f"{type(error).__name__} ({str(error)[:200]})"
            )
            if getattr(error, "from_student", False):
                self.issues.append(message)  # the student's function failed in a demo
            else:
                self.grader_errors.append(message)

    def _run_test(self, cell: _SourceCell) -> CellResult:
        def result(points: float, status: str, message: str = "") -> CellResult:
            return CellResult(cell.grade_id, points, cell.points, status, message[:1000])

        try:
            value, _ = self._exec_parent(cell)
        except ChildTimeout as error:
            self._died(error)
            return result(0.0, "timeout", f"time limit: {error}")
        except ChildDied as error:
            self._died(error)
            return result(0.0, "crashed", str(error))
        except SandboxAbort as error:
            self._died(error)
            return result(0.0, "crashed", str(error))
        except BaseException as error:  # noqa: BLE001 - the test failed, whatever it raised
            if isinstance(error, KeyboardInterrupt):
                raise
            if _is_grader_fault(error):
                message = f"test cell {cell.grade_id} could not run: {_error_line(error)}"
                self.grader_errors.append(message)
                return result(0.0, "error", message)
            return result(0.0, "failed", _error_line(error) + _where_raised(error))
        if self.session.aborts:  # an abort the test's own ``except`` swallowed
            kind, message = self.session.aborts[-1]
            self._died(kind(message))
            status = "timeout" if issubclass(kind, ChildTimeout) else "crashed"
            return result(0.0, status, message)
        points = cell.points
        if isinstance(value, int | float) and not isinstance(value, bool):
            points = min(max(float(value), 0.0), cell.points)  # nbgrader's partial credit
        return result(points, "passed")


def _is_grader_fault(error: BaseException) -> bool:
    """A test that cannot run (a name or module the grader lacks, broken code) is the grader's
    fault; everything else a test raises (a failed comparison, a student's error) costs points."""
    if getattr(error, "from_student", False):
        return False
    return isinstance(error, NameError | ImportError | SyntaxError | JailError)


def _missing_function(name: str, value: Any) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        if value is None:
            error: Exception = NameError(f"name {name!r} is not defined by the submission")
        else:
            error = TypeError(
                f"{name} is a {type(value).__name__} in the submission, not a function"
            )
        error.from_student = True  # type: ignore[attr-defined]
        raise error

    missing.__name__ = name
    return missing


_STUDENT_FRAME = re.compile(r'File "<cell \d+>", line (\d+), in (\w+)')


def _where_raised(error: BaseException) -> str:
    """For an error the student's code raised: where, from its traceback in the student's
    process (the student's own cells; a test's code never runs there)."""
    traceback = getattr(error, "student_traceback", None)
    if traceback is None:
        return ""
    frames = _STUDENT_FRAME.findall(traceback)
    if not frames:
        return " (raised in your code)"
    line, function = frames[-1]
    return f" (raised in your code: {function}, line {line} of its cell)"


def _error_line(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text else name


@contextlib.contextmanager
def _warnings_kept():
    """Warning filters the instructor's cells change are undone after the submission."""
    import warnings

    with warnings.catch_warnings():
        yield
