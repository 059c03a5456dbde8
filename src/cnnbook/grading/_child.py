"""The sandboxed process that runs a student's code, and the wire format it speaks.

This file is loaded by path in a fresh interpreter (``python -I``), never through the ``cnnbook``
package, so a NumPy assignment's child has imported nothing but the standard library and NumPy.
The grader imports it as ``cnnbook.grading._child`` only for the wire format (:func:`encode`,
:func:`decode`, :func:`write_message`, :func:`read_message`).

Wire format: one message is ``<u64 length><u64 header length><JSON header>`` followed by
``<u64 length><.npy bytes>`` per array. The JSON tree holds plain values; arrays, tuples, dicts,
complex numbers and handles (objects that stay on the other side) are tagged objects such as
``{"$a": 0}``. Arrays use NumPy's ``.npy`` format with ``allow_pickle=False``: nothing from the
child is ever unpickled.

Protection layers set up by :func:`main` before any student code runs (see
``grading-protections.md``): resource limits (address space, file size, CPU time), stdin closed,
stdout/stderr into bounded buffers, private mount and network namespaces with the instructor's
folders hidden (when root), stub modules for the libraries a NumPy task must not use, and an audit
hook (``sys.addaudithook``, which Python code cannot remove) that refuses network, processes,
signals to other processes, ``ctypes``, and file access outside the submission's folder and the
Python installation.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys

import numpy as np

MAX_DEPTH = 64
_U64 = struct.Struct("<Q")
# Bound once: student code that rebinds os.read/os.write cannot reroute the channel.
_os_read, _os_write = os.read, os.write


# ----------------------------------------------------------------------------------------------
# Wire format


class WireError(Exception):
    """A message that does not follow the wire format (or is too large)."""


def encode(value, arrays: list, to_handle, memo: dict | None = None, depth: int = 0):
    """The JSON tree of ``value``; arrays are appended to ``arrays`` (same object, same index).

    ``to_handle(obj)`` returns the JSON node for anything that is not plain data (or raises).
    """
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    memo = {} if memo is None else memo
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        arrays.append(np.asarray(value))  # before float: np.float64 is a float
        return {"$s": len(arrays) - 1}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, complex):
        return {"$c": [value.real, value.imag]}
    if isinstance(value, np.ndarray) and value.dtype != object:
        key = id(value)
        if key not in memo:
            memo[key] = len(arrays)
            arrays.append(np.asarray(value))
        return {"$a": memo[key]}
    if type(value) in (list, tuple):
        items = [encode(v, arrays, to_handle, memo, depth + 1) for v in value]
        return items if type(value) is list else {"$t": items}
    if type(value) is dict:
        return {
            "$d": [
                [
                    encode(k, arrays, to_handle, memo, depth + 1),
                    encode(v, arrays, to_handle, memo, depth + 1),
                ]
                for k, v in value.items()
            ]
        }
    return to_handle(value)


def decode(node, arrays: list, from_handle, depth: int = 0):
    """The value of a JSON tree made by :func:`encode`; ``from_handle(node)`` resolves handles."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [decode(v, arrays, from_handle, depth + 1) for v in node]
    if not isinstance(node, dict) or len(node) < 1:
        raise WireError(f"unexpected node {type(node).__name__}")
    if "$a" in node:
        return arrays[_index(node["$a"], arrays)]
    if "$s" in node:
        return arrays[_index(node["$s"], arrays)][()]
    if "$t" in node:
        return tuple(decode(v, arrays, from_handle, depth + 1) for v in _list(node["$t"]))
    if "$d" in node:
        out = {}
        for pair in _list(node["$d"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("bad dict entry")
            key = decode(pair[0], arrays, from_handle, depth + 1)
            try:
                out[key] = decode(pair[1], arrays, from_handle, depth + 1)
            except TypeError as error:  # an unhashable key
                raise WireError(str(error)) from None
        return out
    if "$c" in node:
        re_im = _list(node["$c"])
        if len(re_im) != 2 or not all(isinstance(x, int | float) for x in re_im):
            raise WireError("bad complex number")
        return complex(re_im[0], re_im[1])
    if "$h" in node:
        return from_handle(node)
    raise WireError(f"unknown tag in {sorted(node)[:3]}")


def _index(i, arrays: list) -> int:
    if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(arrays):
        raise WireError("bad array index")
    return i


def _list(x) -> list:
    if not isinstance(x, list):
        raise WireError("expected a list")
    return x


def pack(value, to_handle) -> bytes:
    """The bytes of one message carrying ``value``."""
    arrays: list = []
    tree = encode(value, arrays, to_handle)
    header = json.dumps({"tree": tree, "n": len(arrays)}, allow_nan=True).encode()
    parts = [_U64.pack(len(header)), header]
    for array in arrays:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        blob = buffer.getvalue()
        parts += [_U64.pack(len(blob)), blob]
    body = b"".join(parts)
    return _U64.pack(len(body)) + body


def unpack(body: bytes, from_handle):
    """The value of a message body (without its leading length)."""
    view = memoryview(body)
    if len(view) < 8:
        raise WireError("truncated message")
    (size,) = _U64.unpack(view[:8])
    if 8 + size > len(view):
        raise WireError("truncated header")
    try:
        header = json.loads(bytes(view[8 : 8 + size]))
    except (ValueError, UnicodeDecodeError) as error:
        raise WireError(f"bad header: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("n"), int):
        raise WireError("bad header")
    pos = 8 + size
    arrays = []
    for _ in range(header["n"]):
        if pos + 8 > len(view):
            raise WireError("truncated array")
        (size,) = _U64.unpack(view[pos : pos + 8])
        pos += 8
        if pos + size > len(view):
            raise WireError("truncated array")
        try:
            array = np.lib.format.read_array(io.BytesIO(view[pos : pos + size]), allow_pickle=False)
        except (ValueError, OSError) as error:
            raise WireError(f"bad array: {error}") from None
        if not array.flags.writeable:  # read_array may hand out a read-only view of the bytes
            array = array.copy()
        arrays.append(array)
        pos += size
    return decode(header.get("tree"), arrays, from_handle)


def write_message(fd: int, value, to_handle) -> None:
    """Send ``value`` through the file descriptor ``fd``."""
    data = memoryview(pack(value, to_handle))
    while data:
        data = data[_os_write(fd, data) :]


def read_exact(fd: int, size: int) -> bytes:
    """Read exactly ``size`` bytes (blocking); ``EOFError`` if the other side is gone."""
    chunks, left = [], size
    while left:
        chunk = _os_read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, from_handle, max_bytes: int = 1 << 30):
    """Receive one value from ``fd`` (blocking)."""
    (size,) = _U64.unpack(read_exact(fd, 8))
    if size > max_bytes:
        raise WireError(f"message of {size} bytes exceeds the limit of {max_bytes}")
    return unpack(read_exact(fd, size), from_handle)


# ----------------------------------------------------------------------------------------------
# The child: limits, guards, then a request loop


BLOCKED_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.__new__",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "pty.spawn",
        "os.killpg",
        "signal.pthread_kill",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.dlsym/handle",
        "ctypes.cdata",
        "ctypes.cdata/buffer",
        "ctypes.call_function",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.addressof",
        "ctypes.set_errno",
        "ctypes.PyObj_FromPtr",
        "ctypes.create_string_buffer",
        "ctypes.create_unicode_buffer",
        "mmap.__new__",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "imaplib.open",
        "poplib.connect",
        "telnetlib.Telnet.open",
        "webbrowser.open",
        "sys.remote_exec",
        "sys._debugmallocstats",
        "os.add_dll_directory",
    }
)
# Events that change the file system, allowed only inside the submission's folder.
WRITE_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.utime",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.move",
        "os.chdir",
        "os.chroot",
    }
)
LIST_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.walk", "os.fwalk"})


class SandboxViolation(PermissionError):
    """The student's code tried something the grader does not allow."""


class BlockedModuleError(ImportError):
    """A NumPy task touched a library it must not use (torch, scipy, cnnbook)."""


def _path_rule(path: str, allow: list[str], deny: list[str]) -> bool:
    """Whether ``path`` may be read: the longest matching root of ``allow``/``deny`` decides."""
    best, allowed = -1, False
    for roots, verdict in ((allow, True), (deny, False)):
        for root in roots:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                if len(root) > best or (len(root) == best and not verdict):
                    best, allowed = len(root), verdict
    return allowed


def make_audit_hook(config: dict):
    """The audit hook of the child (a closure: nothing outside it can change its rules)."""
    workdir = os.path.realpath(config["workdir"])
    read_allow = [os.path.realpath(p) for p in config["read_allow"]] + [workdir]
    read_allow.append(f"/proc/{os.getpid()}")
    deny = [os.path.realpath(p) for p in config["deny"]]
    write_allow = [workdir, "/dev/null"]
    blocked_top = frozenset(config["blocked_modules"])
    protected_prefixes = tuple(config["protected_modules"])
    stub_finder = config["_stub_finder"]
    my_pid = os.getpid()
    realpath, fspath, getcwd = os.path.realpath, os.fspath, os.getcwd
    blocked, writes, lists = BLOCKED_EVENTS, WRITE_EVENTS, LIST_EVENTS
    sandbox_violation = SandboxViolation

    def resolve(path) -> str:
        if isinstance(path, int):  # an already-open descriptor: the open was checked
            return ""
        path = fspath(path)
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        return realpath(path)

    def hook(event: str, args: tuple) -> None:
        if event in blocked:
            raise sandbox_violation(f"{event} is not allowed while grading")
        if event == "open":
            path = resolve(args[0])
            if not path:
                return
            mode, flags = args[1], args[2]
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)
            )
            ok = (
                _path_rule(path, write_allow, deny)
                if writing
                else _path_rule(path, read_allow, deny)
            )
            if not ok:
                raise sandbox_violation(f"no access to {path} while grading")
        elif event == "import":
            top = args[0].partition(".")[0]
            if top in blocked_top:
                meta_path = args[3] if len(args) > 3 else None
                if not meta_path or meta_path[0] is not stub_finder:
                    raise sandbox_violation(f"importing {args[0]} is not allowed in this task")
        elif event in writes:
            for path in args[:2]:
                if isinstance(path, str | bytes | os.PathLike) and not _path_rule(
                    resolve(path), write_allow, []
                ):
                    raise sandbox_violation(f"{event} outside the submission's folder")
        elif event in lists:
            if args and isinstance(args[0], str | bytes | os.PathLike):
                if not _path_rule(resolve(args[0]), read_allow, deny):
                    raise sandbox_violation(f"{event} of {args[0]} is not allowed while grading")
        elif event == "os.kill":
            if args[0] != my_pid:  # ending oneself is allowed: it ends the grading of the rest
                raise sandbox_violation("os.kill of another process is not allowed while grading")
        elif event == "object.__setattr__":
            target = args[0]
            module = getattr(target, "__module__", None)
            if isinstance(module, str) and module.startswith(protected_prefixes):
                raise sandbox_violation(f"patching {module} is not allowed while grading")

    return hook


class _BlockedModule(type(sys)):
    """What ``import torch`` gives in a NumPy task: any use raises :class:`BlockedModuleError`."""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise BlockedModuleError(
            f"{self.__name__}.{name}: {self.__name__.partition('.')[0]} is not available in a "
            "NumPy task; write the computation with NumPy yourself"
        )


class _StubFinder:
    """A meta-path finder that serves :class:`_BlockedModule` for the blocked libraries."""

    __slots__ = ("blocked",)

    def __init__(self, blocked: frozenset):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in self.blocked:
            return None
        import importlib.machinery

        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = _BlockedModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        return None


class _BoundedWriter(io.TextIOBase):
    """A text stream keeping the first ``limit`` characters and counting the rest."""

    def __init__(self, limit: int, name: str):
        self.limit, self.name = limit, name
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output dropped]\n"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class _NoInput(io.TextIOBase):
    def readable(self) -> bool:
        return True

    def read(self, *args):
        raise EOFError("input() is not available while grading")

    readline = read


class _Shell:
    """A stand-in for IPython's shell: magics and shell commands do nothing while grading."""

    def run_line_magic(self, name, line, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system

    def __getattr__(self, name):
        raise AttributeError(f"IPython's {name} is not available while grading")


_SHELL = _Shell()


def get_ipython():  # noqa: D103 - the stand-in IPython exposes to notebook code
    return _SHELL


def _hide_instructor_files(config: dict) -> list[str]:
    """As root: private mount and network namespaces, tmpfs over the instructor's folders."""
    if (
        os.geteuid() != 0
        or not config.get("namespaces", True)
        or not sys.platform.startswith("linux")
    ):
        return ["namespaces: not used (not root)"]
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, clone_newnet = 0x00020000, 0x40000000
    ms_rdonly, ms_nosuid, ms_nodev, ms_bind, ms_rec, ms_private = 1, 2, 4, 4096, 16384, 1 << 18
    notes = []
    if libc.unshare(clone_newns | clone_newnet) != 0:
        return [f"namespaces: unshare failed (errno {ctypes.get_errno()})"]
    libc.mount(b"none", b"/", None, ms_rec | ms_private, None)
    notes.append("namespaces: private mounts, no network")
    for path in config["deny"]:
        target = os.fsencode(path)
        if os.path.isdir(path):
            rc = libc.mount(
                b"tmpfs", target, b"tmpfs", ms_rdonly | ms_nosuid | ms_nodev, b"size=4k"
            )
        elif os.path.isfile(path):
            rc = libc.mount(b"/dev/null", target, None, ms_bind, None)
        else:
            continue
        if rc != 0:
            notes.append(f"could not hide {path} (errno {ctypes.get_errno()})")
    return notes


def _set_limits(config: dict) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file raises OSError instead
    with open("/proc/self/statm") as handle:
        vm_now = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limits = [
        (resource.RLIMIT_AS, vm_now + int(config["memory_bytes"])),
        (resource.RLIMIT_FSIZE, int(config["file_bytes"])),
        (resource.RLIMIT_CPU, int(config["cpu_seconds"])),
        (resource.RLIMIT_CORE, 0),
    ]
    for kind, value in limits:
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass


def _preload(config: dict) -> dict:
    """Import what the task needs before any guard is up; returns the probe functions."""
    import importlib

    probes = {}
    for name in config["preload"]:
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional module; the task reports what is missing
            continue
        if name == config.get("probes_module"):
            probes = {
                k: v for k, v in vars(module).items() if callable(v) and not k.startswith("_")
            }
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return probes


class _Child:
    """The request loop: exec a cell, resolve names, call a function or a probe."""

    def __init__(self, fd_in: int, fd_out: int, config: dict, probes: dict):
        self.fd_in, self.fd_out, self.config = fd_in, fd_out, config
        self.probes = probes
        self.handles: dict[int, object] = {}
        import builtins

        self.ns: dict = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "get_ipython": get_ipython,
        }
        self.out = _BoundedWriter(int(config["output_chars"]), "<stdout>")
        self.snapshots = {
            name: dict(vars(sys.modules[name]))
            for name in config["restore_modules"]
            if name in sys.modules
        }

    # handles: objects that stay here
    def to_handle(self, obj) -> dict:
        key = id(obj)
        self.handles[key] = obj
        kind = type(obj)
        return {
            "$h": key,
            "type": f"{kind.__module__}.{kind.__qualname__}"[:200],
            "callable": callable(obj),
        }

    def from_handle(self, node: dict):
        key = node.get("$h")
        if isinstance(key, str) and key.startswith("name:"):
            name = key[5:]
            if name not in self.ns:
                raise NameError(f"name {name!r} is not defined by the student's code")
            return self.ns[name]
        if key not in self.handles:
            raise WireError("unknown handle")
        return self.handles[key]

    def reply(self, value) -> None:
        text = self.out.take()
        limit = int(self.config.get("message_bytes", 1 << 30))
        try:
            data = pack({"reply": value, "output": text}, self.to_handle)
            if len(data) > limit:
                raise WireError(f"it is {len(data)} bytes, over the limit of {limit}")
        except (MemoryError, WireError, ValueError, TypeError, RecursionError) as error:
            value = None  # let the memory go before building the error
            problem = {
                "type": "ResultError",
                "message": f"the result could not be sent back to the grader: {error}",
            }
            data = pack({"reply": {"error": problem}, "output": text}, self.to_handle)
        view = memoryview(data)
        while view:
            view = view[_os_write(self.fd_out, view) :]

    def run(self) -> None:
        self.reply({"ok": "ready", "notes": self.config.get("_notes", [])})
        while True:
            try:
                request = read_message(self.fd_in, self.from_handle)
            except EOFError:
                return
            except Exception as error:  # noqa: BLE001 - reported to the grader
                self.reply({"error": _describe(error)})
                continue
            op = request.get("op")
            try:
                if op == "exec":
                    result = self.exec_cell(
                        request["code"],
                        request.get("lenient", False),
                        request.get("name", "<cell>"),
                    )
                elif op == "resolve":
                    result = {
                        n: self.ns[n]
                        for n in request["names"]
                        if n in self.ns and not isinstance(self.ns[n], type(sys))
                    }
                elif op == "call":
                    result = self.call(
                        request["fn"],
                        request["args"],
                        request["kwargs"],
                        request.get("warnings"),
                        request.get("errstate"),
                    )
                elif op == "probe":
                    fn = self.probes.get(request["name"])
                    if fn is None:
                        raise WireError(f"unknown probe {request['name']!r}")
                    self.restore_modules()
                    result = self.call(
                        fn,
                        request["args"],
                        request["kwargs"],
                        request.get("warnings"),
                        request.get("errstate"),
                    )
                elif op == "bye":
                    self.reply({"ok": None})
                    return
                else:
                    raise WireError(f"unknown request {op!r}")
            except BaseException as error:  # noqa: BLE001 - the student's errors go back
                if isinstance(error, SystemExit | KeyboardInterrupt):
                    raise
                self.reply({"error": _describe(error)})
                continue
            self.reply({"ok": result} if op != "call" and op != "probe" else result)

    def exec_cell(self, code: str, lenient: bool, name: str):
        import ast

        tree = ast.parse(code, filename=name)
        if not lenient:
            exec(compile(tree, name, "exec"), self.ns)
            return None
        # A trusted set-up cell: run statement by statement, skipping those that use a blocked
        # library (e.g. ``torch.manual_seed(0)`` in a NumPy task's child).
        for statement in tree.body:
            try:
                exec(compile(ast.Module([statement], []), name, "exec"), self.ns)
            except BlockedModuleError:
                continue
        return None

    def call(self, fn, args, kwargs, filters=None, errstate=None) -> dict:
        import warnings

        if not callable(fn):
            raise TypeError(f"{type(fn).__name__} object is not callable")
        arrays: list = []
        encode((args, kwargs), arrays, lambda obj: None)
        before = [a.copy() for a in arrays]
        with warnings.catch_warnings(), np.errstate(**_errstate(errstate)):
            if isinstance(filters, list):
                warnings.filters[:] = _warning_filters(filters)
            result = fn(*args, **kwargs)
        mutated = []
        for i, (now, old) in enumerate(zip(arrays, before, strict=True)):
            if now.shape != old.shape or now.dtype != old.dtype or now.tobytes() != old.tobytes():
                mutated.append([i, now])
        return {"ok": result, "mutated": mutated}

    def restore_modules(self) -> None:
        """Undo monkey-patching of the libraries a probe relies on."""
        for name, snapshot in self.snapshots.items():
            module = sys.modules.get(name)
            if module is None:
                continue
            current = vars(module)
            for key, value in snapshot.items():
                if current.get(key) is not value:
                    current[key] = value


def _warning_filters(filters: list) -> list:
    """Rebuild the grader's warning filters (plain data) as ``warnings.filters`` entries; a
    filter whose category is not a built-in or NumPy warning class is left out."""
    import builtins
    import re

    rebuilt = []
    for entry in filters[:64]:
        try:
            action, message, category, module, lineno = entry
            owner, _, name = str(category).rpartition(".")
            cls = getattr(builtins, name, None) if owner == "builtins" else None
            if cls is None and owner.startswith("numpy"):
                cls = getattr(np, name, None) or getattr(np.exceptions, name, None)
            if not (isinstance(cls, type) and issubclass(cls, Warning)):
                continue
            rebuilt.append(
                (
                    str(action),
                    None if message is None else re.compile(str(message), re.I),
                    cls,
                    None if module is None else re.compile(str(module)),
                    int(lineno),
                )
            )
        except (TypeError, ValueError, re.error):
            continue
    return rebuilt


def _errstate(state) -> dict:
    allowed = {"ignore", "warn", "raise", "call", "print", "log"}
    if not isinstance(state, dict):
        return {}
    return {
        k: v
        for k, v in state.items()
        if k in ("divide", "over", "under", "invalid") and v in allowed - {"call", "log"}
    }


def _describe(error: BaseException) -> dict:
    import traceback

    lines = traceback.format_exception(type(error), error, error.__traceback__)
    # Keep the student's frames only: the harness's own are noise in a feedback message.
    text = "".join(line for line in lines if __file__ not in line)
    return {"type": type(error).__name__, "message": str(error)[:2000], "traceback": text[-4000:]}


def main(argv: list[str]) -> None:
    """Entry point: ``_child.py FD_IN FD_OUT`` with the configuration as the first message, or
    ``_child.py --zygote SOCKET_FD`` (see :func:`zygote_main`)."""
    if argv[0] == "--zygote":
        zygote_main(int(argv[1]))
        return
    fd_in, fd_out = int(argv[0]), int(argv[1])
    config = read_message(fd_in, lambda node: None)
    run_child(fd_in, fd_out, config)


def zygote_main(sock_fd: int) -> None:
    """A warm parent for students' processes: import the libraries once, then fork on request.

    Messages on the (SOCK_SEQPACKET) socket: first ``{"preload": [...]}`` (answered ``ready``),
    then per student process one JSON configuration with two file descriptors attached (the
    channel); the zygote forks, answers the new process id (8 bytes) and goes back to waiting.
    The fork sets up its own guards (:func:`run_child`); the zygote itself never runs student code
    and holds nothing of the grader's. It exits when the grader closes the socket.
    """
    import signal
    import socket

    sock = socket.socket(fileno=sock_fd)
    first = json.loads(sock.recv(1 << 20))
    _preload({"preload": first["preload"], "probes_module": None})

    def reap(signum, frame) -> None:  # reaping here keeps the forks' CPU time accounted
        with _suppress_os_error():
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass

    signal.signal(signal.SIGCHLD, reap)
    sock.send(b"ready")
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        except (OSError, ValueError):
            return
        if not data:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:  # the student's process
            try:
                sock.close()
                os.setsid()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                keep = set(fds)
                for fd in range(3, 256):  # nothing of the zygote's stays open
                    if fd not in keep:
                        with _suppress_os_error():
                            os.close(fd)
                run_child(fds[0], fds[1], json.loads(data))
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        sock.send(struct.pack("<q", pid))


class _suppress_os_error:  # noqa: N801 - a tiny context manager, named like contextlib's
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return kind is not None and issubclass(kind, OSError)


def run_child(fd_in: int, fd_out: int, config: dict) -> None:
    """Set up every guard, then serve requests until the grader says bye or goes away."""
    if sys.path and sys.path[0] in ("", os.path.dirname(os.path.abspath(__file__))):
        del sys.path[0]  # the grading package's folder is not the student's to import from
    probes = _preload(config)
    notes = _hide_instructor_files(config)
    os.chdir(config["workdir"])
    os.environ["TMPDIR"] = config["workdir"]
    os.environ["HOME"] = config["workdir"]
    _set_limits(config)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # C-level output goes nowhere; Python-level output is captured
        os.dup2(devnull, fd)
    child = _Child(fd_in, fd_out, config, probes)
    sys.stdin = _NoInput()
    sys.stdout = sys.stderr = child.out
    blocked = frozenset(config["blocked_modules"])
    finder = _StubFinder(blocked)
    if blocked:
        sys.meta_path.insert(0, finder)
    config["_stub_finder"] = finder
    config["_notes"] = notes
    sys.addaudithook(make_audit_hook(config))
    child.run()


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(0)
