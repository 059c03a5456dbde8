"""The grader's side of the channel: a session with one jailed student process, and proxies.

A test cell runs in the grader, where each student function it names is a :class:`RemoteFunction`.
Calling one sends the arguments (plain data: arrays, numbers, strings, tuples, lists, dicts, None)
to the student's process, runs the function there and returns plain data; any other object (an
opaque cache, a torch model) stays in the student's process and comes back as a
:class:`RemoteObject` handle that can only be passed back to another student function or to a
probe. Arrays cross as bytes, so the grader's own arrays never change; a function that changed
its copy of an input in place raises :class:`InputModified` in the test that called it.

Nothing received from the student's process is unpickled (see :mod:`cnnbook.grading._child`).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import functools
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _child as wire

__all__ = [
    "ChildDied",
    "ChildSession",
    "ChildTimeout",
    "JailError",
    "Launch",
    "ProtocolError",
    "RemoteFunction",
    "RemoteObject",
    "SandboxAbort",
    "StaleHandle",
    "StudentCodeError",
    "route_probes",
]

CHILD_SCRIPT = Path(wire.__file__).resolve()
_BOOT = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_cnnbook_child', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules['_cnnbook_child'] = module\n"
    "spec.loader.exec_module(module)\n"
    "module.main(sys.argv[2:])\n"
    "import os; os._exit(0)\n"
)
# Built-in exceptions a student's error is re-raised as (so ``except ValueError`` in a test works).
_NOT_RERAISED = {"StopIteration", "StopAsyncIteration", "GeneratorExit"}


class JailError(RuntimeError):
    """The grader could not run the student's code (the jail, the child script): the grader's
    fault, never the student's."""


@dataclass
class Launch:
    """How to start one student process: the command, and what to do around it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str = "/"
    preexec: Callable[[], None] | None = None
    stderr: Any = subprocess.DEVNULL
    on_cleanup: list[Callable[[], None]] = field(default_factory=list)

    def cleanup(self) -> None:
        while self.on_cleanup:
            with contextlib.suppress(Exception):
                self.on_cleanup.pop()()

    def describe_failure(self) -> str:
        """What the jail printed before the student's code could start (bwrap's own errors)."""
        name = getattr(self.stderr, "name", None)
        if not isinstance(name, str):
            return ""
        with contextlib.suppress(OSError):
            text = Path(name).read_text(errors="replace")[-1000:].strip()
            return f" ({text})" if text else ""
        return ""


class SandboxAbort(BaseException):
    """The student's process stopped answering (time limit, death, broken protocol).

    A ``BaseException`` so that a test cell's ``except Exception`` cannot swallow it: the cell
    that was running fails whatever it catches.
    """


class ChildTimeout(SandboxAbort):
    """A call or a cell of the student's code ran past its time limit; the process was killed."""


class ChildDied(SandboxAbort):
    """The student's process ended (``sys.exit``, ``os._exit``, a signal, a crash)."""


class ProtocolError(SandboxAbort):
    """The student's process sent something that is not a valid message (or too large)."""


class StudentCodeError(Exception):
    """An exception of a type that is not built in, raised by the student's code."""


class InputModified(AssertionError):
    """A student's function changed an input array in place."""


class StaleHandle(Exception):
    """A handle from a student process that has since been replaced (after a time limit)."""


class RemoteObject:
    """An object that lives in the student's process; it can only be passed back to it."""

    __slots__ = ("_session", "_generation", "_key", "_type")

    def __init__(self, session: ChildSession, generation: int, key: Any, type_name: str):
        self._session, self._generation = session, generation
        self._key, self._type = key, type_name

    def __repr__(self) -> str:
        return f"<student object of type {self._type}>"

    def _node(self, session: ChildSession) -> dict:
        if session is not self._session or self._generation != session.generation:
            raise StaleHandle(f"{self!r} belongs to a student process that no longer runs")
        return {"$h": self._key}

    def __reduce__(self):
        raise TypeError("a handle to a student's object cannot be pickled")


class RemoteFunction(RemoteObject):
    """A student's function; calling it runs it in the student's process."""

    __slots__ = ("__name__",)

    def __init__(self, session, generation, key, type_name, name: str = "function"):
        super().__init__(session, generation, key, type_name)
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self, args, kwargs)


class ChildSession:
    """One student process: start it, send requests with deadlines, kill it.

    Args:
        config: the child's configuration (see ``sandbox.Limits`` and ``_child.run_child``).
        max_message_bytes: a reply larger than this is refused and the process killed.
        output_chars: how much of the student's printed output is kept for feedback.
        python: the interpreter that runs the child.
    """

    def __init__(
        self,
        config: dict,
        launcher: Callable[[int, int], Launch],
        *,
        max_message_bytes: int = 64 << 20,
        output_chars: int = 20_000,
    ):
        self.config = config
        self.launcher = launcher
        self.max_message_bytes = max_message_bytes
        self.output_chars = output_chars
        self.process: subprocess.Popen | None = None
        self.launch: Launch | None = None
        self.generation = 0
        self.output = ""
        self.notes: list[str] = []
        # seconds the student's code may still run in the current cell (None: no cell budget);
        # only time spent waiting on the student's process counts, not the grader's own work
        self.budget: float | None = None
        self.call_timeout = 10.0
        self.aborts: list[tuple[type, str]] = []  # what went wrong since last cleared
        self._to_child = self._from_child = -1

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start a fresh student process (the previous one, if any, is killed)."""
        self.kill()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        for fd in (to_child_w, from_child_w):  # 1 MiB pipes: 16x fewer wake-ups for big arrays
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        self.generation += 1
        config = {k: v for k, v in self.config.items() if not k.startswith("_")}
        launch = self.launch = self.launcher(to_child_r, from_child_w)
        try:
            self.process = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=launch.stderr,
                pass_fds=(to_child_r, from_child_w),
                cwd=launch.cwd,
                env=launch.env,
                start_new_session=True,  # the grader's Ctrl-C and terminal stay the grader's
                preexec_fn=launch.preexec,
            )
        except OSError as error:
            raise JailError(f"the student's process could not be started: {error}") from error
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._to_child, self._from_child = to_child_w, from_child_r
        fcntl.fcntl(
            to_child_w, fcntl.F_SETFL, fcntl.fcntl(to_child_w, fcntl.F_GETFL) | os.O_NONBLOCK
        )
        deadline = time.monotonic() + timeout
        try:
            self._send(config, deadline)
            reply = self._receive(deadline)
        except SandboxAbort as error:
            raise JailError(f"the jail did not start: {error}{launch.describe_failure()}") from None
        if not isinstance(reply, dict) or reply.get("ok") != "ready":
            self.kill()
            raise JailError(f"the student's process did not start: {reply!r}"[:500])
        self.notes = [str(n) for n in reply.get("notes", [])]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill the student's process (and anything it started) and close the channel."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 9)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        if self.launch is not None:
            self.launch.cleanup()  # the pids cgroup: nothing of the jail outlives it
            self.launch = None
        for fd in (self._to_child, self._from_child):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_child = self._from_child = -1

    def close(self) -> None:
        """Say goodbye politely, then make sure the process is gone."""
        if self.alive:
            with contextlib.suppress(SandboxAbort, OSError):
                self._send({"op": "bye"}, time.monotonic() + 1.0)
                self._receive(time.monotonic() + 1.0)
        self.kill()

    # -- requests -----------------------------------------------------------------------------
    def request(self, message: dict, timeout: float | None = None) -> Any:
        """Send ``message``, wait for the reply; raise the student's error or a SandboxAbort."""
        if not self.alive:
            raise ChildDied(self._death_message())
        timeout = self.call_timeout if timeout is None else timeout
        if self.budget is not None:
            timeout = min(timeout, max(self.budget, 0.0))
        started = time.monotonic()
        try:
            self._send(message, started + timeout)
            reply = self._receive(started + timeout)
        finally:
            if self.budget is not None:
                self.budget -= time.monotonic() - started
        if not isinstance(reply, dict):
            self._abort(ProtocolError, "the student's process sent a malformed reply")
        if "error" in reply:
            raise _student_error(reply["error"])
        return reply

    def exec_cell(self, code: str, name: str, lenient: bool = False, timeout: float | None = None):
        """Run one cell of the student's code in the student's process."""
        return self.request({"op": "exec", "code": code, "name": name, "lenient": lenient}, timeout)

    def resolve(self, names: list[str]) -> dict[str, Any]:
        """The values of ``names`` in the student's namespace (functions come back as proxies)."""
        reply = self.request({"op": "resolve", "names": list(names)})
        values = reply.get("ok")
        if not isinstance(values, dict):
            self._abort(ProtocolError, "the student's process sent a malformed reply")
        for name, value in values.items():
            if isinstance(value, RemoteFunction):
                value.__name__ = str(name)
        return values

    def call(self, fn: RemoteObject, args: tuple, kwargs: dict) -> Any:
        """Call a student's function with plain data; see :class:`RemoteFunction`."""
        return self._call({"op": "call", "fn": fn}, args, kwargs)

    def probe(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Run the probe ``name`` of ``cnnbook.grading.probes`` next to the student's code."""
        return self._call({"op": "probe", "name": name}, args, kwargs)

    def _call(self, message: dict, args: tuple, kwargs: dict) -> Any:
        arrays: list = []
        wire.encode((args, kwargs), arrays, lambda obj: None)  # the arrays sent, in wire order
        # the test's warning filters and NumPy error state apply to the call, as in a kernel
        # (``warnings.simplefilter("error")`` around a call turns an overflow into a failure)
        message.update(
            args=tuple(args), kwargs=dict(kwargs), warnings=_warning_filters(), errstate=np.geterr()
        )
        reply = self.request(message)
        # The grader's arrays never change (they were sent as bytes); a function that changed
        # its copy of an input in place breaks the contract, and the test that called it fails.
        changed = {
            entry[0]: entry[1] if len(entry) > 1 else None
            for entry in reply.get("mutated") or []
            if isinstance(entry, list) and entry and isinstance(entry[0], int)
        }
        if changed and message.get("op") == "call":
            name = getattr(message["fn"], "__name__", "the function")
            what = "; ".join(
                _describe_mutation(args, kwargs, arrays, index, now)
                for index, now in sorted(changed.items())[:3]
            )
            error = InputModified(
                f"{name} changed its input in place ({what}); functions must leave their inputs "
                "untouched: build a new array, or work on a copy (x = x.copy())"
            )
            error.from_student = True  # type: ignore[attr-defined]
            raise error
        return reply.get("ok")

    # -- the channel ----------------------------------------------------------------------------
    def _to_node(self, obj: Any) -> dict:
        if isinstance(obj, RemoteObject):
            return obj._node(self)
        raise TypeError(
            f"cannot send a {type(obj).__module__}.{type(obj).__qualname__} to the student's code: "
            "only arrays, numbers, strings, None, tuples, lists and dicts of those, or objects "
            "the student's code returned"
        )

    def _from_node(self, node: dict) -> RemoteObject:
        key, type_name = node.get("$h"), str(node.get("type", "object"))[:200]
        if not isinstance(key, int):
            raise wire.WireError("bad handle")
        if node.get("callable") is True:
            return RemoteFunction(self, self.generation, key, type_name)
        return RemoteObject(self, self.generation, key, type_name)

    def _send(self, message: Any, deadline: float) -> None:
        data = memoryview(wire.pack(message, self._to_node))
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                self._abort(ChildTimeout, "the student's process stopped reading its input")
            try:
                _, writable, _ = select.select([], [self._to_child], [], left)
                if writable:
                    data = data[os.write(self._to_child, data) :]
            except BlockingIOError:
                continue
            except OSError:
                self._abort(ChildDied, self._death_message())

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort(ChildTimeout, "the student's code ran past its time limit")
            readable, _, _ = select.select([self._from_child], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._from_child, min(left, 1 << 20))
            if not chunk:
                self._abort(ChildDied, self._death_message())
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float) -> Any:
        (size,) = wire._U64.unpack(self._read(8, deadline))
        if size > self.max_message_bytes:
            self._abort(
                ProtocolError,
                f"a result of {size} bytes is over the grader's limit of "
                f"{self.max_message_bytes} bytes",
            )
        body = self._read(size, deadline)
        try:
            message = wire.unpack(body, self._from_node)
        except wire.WireError as error:
            self._abort(ProtocolError, f"the student's process sent an invalid message ({error})")
        if not isinstance(message, dict):
            self._abort(ProtocolError, "the student's process sent an invalid message")
        text = message.get("output")
        if isinstance(text, str) and text:
            self.output = (self.output + text)[-self.output_chars :]
        return message.get("reply")

    def _death_message(self) -> str:
        if self.process is None:
            return "the student's process is not running"
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1.0)
        code = self.process.returncode
        if code is None:
            return "the student's process closed its channel"
        if code < 0:
            return f"the student's process was ended by signal {-code}"
        return f"the student's process exited (exit code {code}), e.g. sys.exit() or os._exit()"

    def _abort(self, kind: type[SandboxAbort], message: str):
        if kind is not ChildDied:
            self.kill()
        self.aborts.append((kind, message))
        raise kind(message)


def _warning_filters() -> list:
    """The grader's active warning filters as plain data (see ``_child.warning_filters``)."""
    import warnings

    filters = []
    for action, message, category, module, lineno in warnings.filters[:64]:
        filters.append(
            [
                action,
                None if message is None else getattr(message, "pattern", str(message)),
                f"{category.__module__}.{category.__qualname__}",
                None if module is None else getattr(module, "pattern", str(module)),
                lineno,
            ]
        )
    return filters


def _describe_mutation(args: tuple, kwargs: dict, arrays: list, index: int, now: Any) -> str:
    """Which argument holds the ``index``-th array sent (wire order) and what changed in it."""
    from .checks import describe_change

    where, count = f"array {index + 1} of the arguments", 0
    named = [(f"argument {i + 1}", a) for i, a in enumerate(args)]
    for label, value in [*named, *((f"argument {k}=", v) for k, v in kwargs.items())]:
        found: list = []
        wire.encode(value, found, lambda obj: None)
        if count <= index < count + len(found):
            inside = "" if isinstance(value, np.ndarray) else ", an array inside it"
            where = f"{label}{inside}"
            break
        count += len(found)
    before = arrays[index] if index < len(arrays) else None
    if not isinstance(before, np.ndarray) or not isinstance(now, np.ndarray):
        return where
    return f"{where}: {describe_change(before, now)}"


def _student_error(error: Any) -> Exception:
    """The exception to raise in the grader for an error the student's code raised."""
    if not isinstance(error, dict):
        exc = StudentCodeError("the student's code failed")
        exc.from_student = True  # type: ignore[attr-defined]
        return exc
    name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    cls = getattr(builtins, name, None)
    exc: Exception
    if isinstance(cls, type) and issubclass(cls, Exception) and name not in _NOT_RERAISED:
        try:
            exc = cls(message)
        except TypeError:
            exc = StudentCodeError(f"{name}: {message}")
    else:
        exc = StudentCodeError(f"{name}: {message}")
    exc.student_traceback = str(error.get("traceback", ""))  # type: ignore[attr-defined]
    exc.from_student = True  # type: ignore[attr-defined]
    return exc


def _find_remote(value: Any, depth: int = 0) -> RemoteObject | None:
    if isinstance(value, RemoteObject):
        return value
    if depth < 8 and type(value) in (list, tuple):
        for item in value:
            found = _find_remote(item, depth + 1)
            if found is not None:
                return found
    if depth < 8 and type(value) is dict:
        for item in value.values():
            found = _find_remote(item, depth + 1)
            if found is not None:
                return found
    return None


def _routed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def probe(*args: Any, **kwargs: Any) -> Any:
        remote = _find_remote((args, kwargs))
        if remote is None:
            return fn(*args, **kwargs)  # plain notebook use: run it here
        return remote._session.probe(name, args, kwargs)

    probe.__cnnbook_routed__ = True  # type: ignore[attr-defined]
    return probe


@contextlib.contextmanager
def route_probes(module_name: str = "cnnbook.grading.probes") -> Iterator[None]:
    """While active, a probe called with a student's function or object runs in that student's
    process (by name) and only its plain-data result comes back. Restores the module after."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError:
        yield
        return
    saved = {}
    for name, value in list(vars(module).items()):
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            continue
        if getattr(value, "__module__", None) != module_name:
            continue  # an imported helper, not a probe
        saved[name] = value
        setattr(module, name, _routed(name, value))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
