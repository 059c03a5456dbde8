"""Run the code cells of notebooks headless, many at once, each in a fresh process and namespace.

Two engines produce the same result (an executed ``nbformat`` notebook with nbgrader-style
outputs):

``fork`` (default on Linux and macOS)
    The grader imports NumPy, torch and IPython once, then forks one child per submission. The
    child starts from that warm state with an empty namespace (a new IPython shell), runs the cells
    in order and streams each cell's outputs back, so a crash or a kill keeps the cells already
    run. A per-cell alarm turns a slow cell into an error in that cell; a cell stuck in C code is
    killed by the parent. Forking costs milliseconds where a kernel costs a second or two.
``kernel``
    A fresh Jupyter kernel per submission through ``nbclient`` (what ``nbgrader autograde`` does),
    in a pool of worker processes; portable, slower.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["CellTimeoutError", "Execution", "ExecutionTask", "execute_many", "PRELOAD"]

# Imported once by the grader before forking, so no child pays for them.
PRELOAD = (
    "numpy",
    "torch",
    "torch._dynamo",  # imported lazily by the first optimizer step: seconds
    "torch.utils.data",
    "IPython",
    "matplotlib.pyplot",
    "cnnbook.grading.checks",
    "cnnbook.grading.probes",
    "cnnbook.data",
    "cnnbook.transfer",
)
GRACE_S = 5.0  # how long past the cell limit the parent waits before killing a child


class CellTimeoutError(Exception):
    """A cell ran past the per-cell time limit."""


@dataclass
class ExecutionTask:
    """One notebook to run: ``key`` identifies it, ``cwd`` is the folder it runs in."""

    key: str
    notebook: nbformat.NotebookNode
    cwd: Path


@dataclass
class Execution:
    """The outcome of running one notebook.

    ``status`` is ``"ok"``, ``"timeout"`` (a cell ran past the limit) or ``"crashed"`` (the
    process died or could not start); ``message`` says what happened for anything but ``"ok"``.
    """

    key: str
    notebook: nbformat.NotebookNode
    status: str = "ok"
    message: str = ""
    seconds: float = 0.0
    cells_run: int = 0
    extra: dict = field(default_factory=dict)


def execute_many(
    tasks: Iterable[ExecutionTask],
    jobs: int = 2,
    cell_timeout: float = 60.0,
    engine: str = "fork",
    on_done: Callable[[Execution], None] | None = None,
    warm_up: Callable[[], None] | None = None,
) -> list[Execution]:
    """Run every task's notebook, ``jobs`` at a time, and return the executed notebooks.

    Args:
        tasks: the notebooks to run (outputs are ignored and replaced).
        jobs: how many run at once (processes).
        cell_timeout: seconds a single cell may run.
        engine: ``"fork"`` or ``"kernel"`` (see the module docstring).
        on_done: called with each result as soon as it is known (e.g. to advance a progress bar).
        warm_up: run once in the grader before forking (fork engine only), e.g. to generate a
            dataset every submission loads, so that each child finds it in memory.

    Returns:
        One :class:`Execution` per task, in the order of ``tasks``.
    """
    tasks = list(tasks)
    if jobs < 1:
        raise ValueError(f"jobs: got {jobs}, expected a positive number of processes")
    if cell_timeout <= 0:
        raise ValueError(f"cell_timeout: got {cell_timeout}, expected a positive number of seconds")
    if engine == "fork":
        if not hasattr(os, "fork"):
            raise ValueError("engine: 'fork' needs os.fork (Linux or macOS); use engine='kernel'")
        results = _run_forked(tasks, jobs, cell_timeout, on_done, warm_up)
    elif engine == "kernel":
        results = _run_kernels(tasks, jobs, cell_timeout, on_done)
    else:
        raise ValueError(f"engine: got {engine!r}, expected 'fork' or 'kernel'")
    order = {task.key: i for i, task in enumerate(tasks)}
    return sorted(results, key=lambda r: order[r.key])


# ----------------------------------------------------------------------------------------------
# The fork engine


@dataclass
class _Running:
    task: ExecutionTask
    process: object
    conn: object
    code_cells: list[int]
    started: float
    last_progress: float
    outputs: dict = field(default_factory=dict)
    current: int = 0
    done: bool = False


def _preload() -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")  # before matplotlib is imported

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional module; the child imports it itself if it needs it
            pass


def _run_forked(tasks, jobs, cell_timeout, on_done, warm_up) -> list[Execution]:
    import multiprocessing
    from multiprocessing.connection import wait

    _preload()
    if warm_up is not None and tasks:
        warm_up()
    ctx = multiprocessing.get_context("fork")
    pending = deque(tasks)
    running: list[_Running] = []
    results: list[Execution] = []

    def finish(run: _Running, status: str, message: str) -> None:
        run.conn.close()
        run.process.join(timeout=5)
        if run.process.is_alive():
            run.process.kill()
            run.process.join()
        result = _assemble(run, status, message)
        results.append(result)
        if on_done is not None:
            on_done(result)

    while pending or running:
        while pending and len(running) < jobs:
            task = pending.popleft()
            code_cells = [i for i, c in enumerate(task.notebook.cells) if c.cell_type == "code"]
            sources = [task.notebook.cells[i].source for i in code_cells]
            parent_conn, child_conn = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_child_main, args=(child_conn, sources, str(task.cwd), cell_timeout)
            )
            process.start()
            child_conn.close()
            now = time.monotonic()
            running.append(_Running(task, process, parent_conn, code_cells, now, now))
        ready = wait([run.conn for run in running], timeout=0.25)
        for run in [r for r in running if r.conn in ready]:
            try:
                message = run.conn.recv()
            except (EOFError, OSError):
                running.remove(run)
                run.process.join(timeout=5)
                code = run.process.exitcode
                finish(
                    run,
                    "crashed",
                    f"the process died (exit code {code}) in code cell {run.current + 1}",
                )
                continue
            run.last_progress = time.monotonic()
            if message[0] == "cell":
                _, index, outputs, count, seconds = message
                run.outputs[index] = (outputs, count, seconds)
                run.current = index + 1
            elif message[0] == "done":
                running.remove(run)
                timed_out = [
                    i
                    for i, (outs, _, _) in run.outputs.items()
                    if any(o.get("ename") == "CellTimeoutError" for o in outs)
                ]
                if timed_out:
                    finish(
                        run, "timeout", f"code cell {timed_out[0] + 1} ran past {cell_timeout:g} s"
                    )
                else:
                    finish(run, "ok", "")
        now = time.monotonic()
        for run in list(running):
            if now - run.last_progress > cell_timeout + GRACE_S:
                running.remove(run)
                run.process.kill()
                finish(
                    run,
                    "timeout",
                    f"code cell {run.current + 1} ran past {cell_timeout:g} s and was killed",
                )
    return results


def _assemble(run: _Running, status: str, message: str) -> Execution:
    nb = copy.deepcopy(run.task.notebook)
    for position, cell_index in enumerate(run.code_cells):
        cell = nb.cells[cell_index]
        if position in run.outputs:
            outputs, count, seconds = run.outputs[position]
            cell.outputs = [nbformat.from_dict(o) for o in outputs]
            cell.execution_count = count
            cell.metadata.setdefault("execution", {})["cnnbook/seconds"] = round(seconds, 4)
        elif position == run.current and status != "ok":
            # the cell that was running when the process died or was killed
            cell.outputs = [
                nbformat.v4.new_output(
                    "error", ename=status.capitalize(), evalue=message, traceback=[message]
                )
            ]
            cell.execution_count = position + 1
        else:
            cell.outputs = []
            cell.execution_count = None
    seconds = time.monotonic() - run.started
    return Execution(run.task.key, nb, status, message, seconds, len(run.outputs))


def _child_main(conn, sources: list[str], cwd: str, cell_timeout: float) -> None:
    """Run in the forked child: execute ``sources`` in a new IPython shell, stream the outputs."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # keep the grader's console (and progress bar) clean
            os.dup2(devnull, fd)
        os.chdir(cwd)
        sys.path.insert(0, cwd)
        os.environ["MPLBACKEND"] = "Agg"
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)  # the grader runs one child per core
        shell = _new_shell()
        for index, source in enumerate(sources):
            started = time.perf_counter()
            outputs, count = _run_cell(shell, source, cell_timeout)
            conn.send(("cell", index, outputs, count, time.perf_counter() - started))
        conn.send(("done",))
        conn.close()
    finally:
        os._exit(0)


def _new_shell():
    import tempfile

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="cnnbook-ipython-")
    config = Config()
    config.HistoryManager.enabled = False  # no shared SQLite history between children
    config.InteractiveShell.colors = "NoColor"
    shell = InteractiveShell.instance(config=config)
    shell.showtraceback = lambda *args, **kwargs: None  # errors are reported as outputs instead
    shell.showsyntaxerror = lambda *args, **kwargs: None
    return shell


def _on_alarm(signum, frame):
    raise CellTimeoutError("the cell ran past the time limit")


def _run_cell(shell, source: str, cell_timeout: float) -> tuple[list[dict], int]:
    from IPython.utils.capture import capture_output

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, cell_timeout)
    try:
        with capture_output() as captured:
            result = shell.run_cell(source, store_history=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    outputs: list[dict] = []
    if captured.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": captured.stdout})
    if captured.stderr:
        outputs.append({"output_type": "stream", "name": "stderr", "text": captured.stderr})
    for shown in captured.outputs:  # display() calls: keep the text form only
        text = shown.data.get("text/plain")
        if text is not None:
            outputs.append(
                {"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}}
            )
    error = result.error_before_exec or result.error_in_exec
    count = shell.execution_count - 1
    if error is not None:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        outputs.append(
            {
                "output_type": "error",
                "ename": type(error).__name__,
                "evalue": str(error),
                "traceback": [line.rstrip("\n") for line in lines],
            }
        )
    elif result.result is not None:
        outputs.append(
            {
                "output_type": "execute_result",
                "data": {"text/plain": repr(result.result)},
                "metadata": {},
                "execution_count": count,
            }
        )
    return outputs, count


# ----------------------------------------------------------------------------------------------
# The kernel engine


def _run_kernels(tasks, jobs, cell_timeout, on_done) -> list[Execution]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_run_in_kernel, task, cell_timeout) for task in tasks]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if on_done is not None:
                on_done(result)
    return results


def _run_in_kernel(task: ExecutionTask, cell_timeout: float) -> Execution:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = copy.deepcopy(task.notebook)
    started = time.monotonic()
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,  # a slow cell becomes an error; later cells still run
        resources={"metadata": {"path": str(task.cwd)}},
    )
    status, message = "ok", ""
    try:
        client.execute()
    except DeadKernelError as error:
        status, message = "crashed", f"the kernel died: {error}"
    except Exception as error:  # nbclient gave up on this notebook; report it, grade the rest
        status, message = "crashed", f"{type(error).__name__}: {error}"
    run = sum(1 for c in nb.cells if c.cell_type == "code" and c.execution_count is not None)
    if status == "ok":
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            if any(o.get("ename") == "KeyboardInterrupt" for o in cell.get("outputs", [])):
                status, message = "timeout", f"code cell {i + 1} ran past {cell_timeout:g} s"
                break
    return Execution(task.key, nb, status, message, time.monotonic() - started, run)
