"""The operating system's jail for a student's code: bubblewrap, resource limits, a pids cgroup.

Isolation is the kernel's job, not Python's. Every student process starts inside ``bwrap`` with
every namespace unshared (user, PID, network, IPC, UTS, mount, cgroup), its own ``/proc``, no
capabilities, a new session, and ``--die-with-parent``. Its file system holds only:

- ``/usr`` and the Python installation the grader runs on, read-only;
- ``/cnnbook-jail/grader``: the child script, and for a PyTorch task the grader's own ``cnnbook``
  package (the very files the grader imports, so both sides run the same code), read-only, with
  the NumPy reference (``numpy_ref``) replaced by an empty folder;
- ``/cnnbook-jail/submission``: a private copy of the student's folder, read-only;
- ``/cnnbook-jail/work``: an empty scratch folder on a bounded tmpfs (the only writable place).

No course folder, no other submission, no ``.git``, no network. The limits on memory, CPU time,
file size and open files are set from outside, before ``bwrap`` starts (the jail inherits them and,
without ``CAP_SYS_RESOURCE``, cannot raise them); the number of processes is bounded by a pids
cgroup where the machine lets the grader create one, else by ``RLIMIT_NPROC``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GRADER_DIR",
    "SCRATCH",
    "SUBMISSION",
    "JailLimits",
    "JailUnavailable",
    "PidsCgroup",
    "bwrap_path",
    "jail_command",
    "process_limit",
    "require_bwrap",
    "set_limits",
]

# The jail's own folders, under one root no host installation uses (checked in jail_command).
JAIL_ROOT = "/cnnbook-jail"
GRADER_DIR = f"{JAIL_ROOT}/grader"
SUBMISSION = f"{JAIL_ROOT}/submission"
SCRATCH = f"{JAIL_ROOT}/work"
INSTALL_HINT = (
    "grading runs each submission in a bubblewrap jail: install it (Debian/Ubuntu: "
    "`apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`) on a Linux machine whose "
    "kernel allows user namespaces; macOS and Windows cannot jail. To grade your own notebooks "
    "without a jail, pass --engine trusted (never for students' code)"
)


class JailUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here."""


@dataclass(frozen=True)
class JailLimits:
    """What one jail may use; set from outside the jail.

    Args:
        memory_bytes: address space of each process (RLIMIT_AS).
        cpu_seconds: CPU time of each process (RLIMIT_CPU).
        file_bytes: largest file it may write (RLIMIT_FSIZE).
        open_files: open file descriptors (RLIMIT_NOFILE).
        processes: processes and threads in the jail (pids cgroup, else RLIMIT_NPROC).
        scratch_bytes: size of the writable tmpfs ``/work`` (all files together).
    """

    memory_bytes: int = 4 << 30
    cpu_seconds: int = 700
    file_bytes: int = 64 << 20
    open_files: int = 256
    processes: int = 64
    scratch_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: got {value!r}, expected a positive integer")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The ``bwrap`` binary when it can really start a jail here, else None."""
    path = shutil.which("bwrap")
    if path is None or not sys.platform.startswith("linux"):
        return None
    try:
        probe = subprocess.run(
            [path, *_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


def require_bwrap() -> str:
    """The ``bwrap`` binary, or :class:`JailUnavailable` saying what to install."""
    path = bwrap_path()
    if path is None:
        found = shutil.which("bwrap")
        why = "bwrap is not installed" if found is None else f"{found} cannot create namespaces"
        raise JailUnavailable(f"{why}; {INSTALL_HINT}")
    return path


def _namespace_args() -> list[str]:
    # --unshare-all: user, PID, network, IPC, UTS, mount and (where the kernel has it) cgroup
    return ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


def _python_roots() -> list[str]:
    """Folders the interpreter and its packages live in (the venv and the base installation)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(sysconfig.get_paths()[key])
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    roots = {str(Path(r).resolve()) for r in roots if r and Path(r).exists()}
    # drop a folder inside another one: binding the outer one is enough
    return sorted(r for r in roots if not any(r != o and r.startswith(o + os.sep) for o in roots))


def jail_command(
    argv: list[str],
    *,
    submission_dir: str | os.PathLike,
    grader_files: dict[str, str | os.PathLike],
    hidden: list[str] = (),
    scratch_bytes: int,
    env: dict[str, str],
    read_only: list[str] = (),
) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in a jail.

    Args:
        argv: the command inside the jail (paths as seen inside).
        submission_dir: host folder mounted read-only at ``SUBMISSION``.
        grader_files: name -> host path, each mounted read-only at ``GRADER_DIR/<name>``.
        hidden: paths inside the jail replaced by an empty folder (those under the Python
            installation or ``GRADER_DIR``; nothing else of the host is in the jail).
        scratch_bytes: size of the writable tmpfs at ``SCRATCH``.
        env: the whole environment of the jailed process.
        read_only: more host paths mounted read-only at the same place (e.g. a font cache).
    """
    command = [require_bwrap(), *_namespace_args(), "--hostname", "jail"]
    command += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for path in ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/certs", "/etc/fonts"):
        if Path(path).exists():
            command += ["--ro-bind", path, path]
    # /dev: a tiny tmpfs with the four harmless devices (bwrap's --dev leaves a writable /dev/shm)
    command += ["--proc", "/proc", "--size", str(1 << 20), "--tmpfs", "/dev"]
    for device in ("null", "zero", "random", "urandom"):
        command += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    command += ["--remount-ro", "/dev"]
    # /tmp: an empty tmpfs, made read-only below (TMPDIR is the scratch folder); mounted before
    # the Python installation, which may itself live under /tmp (a fresh clone, say)
    command += ["--size", str(1 << 20), "--tmpfs", "/tmp"]
    for root in _python_roots():
        if root == JAIL_ROOT or root.startswith(JAIL_ROOT + "/"):
            raise JailUnavailable(f"the Python installation {root} is inside {JAIL_ROOT}")
        if root.startswith(("/proc/", "/dev/")):
            raise JailUnavailable(f"the Python installation {root} is under /proc or /dev")
        if not root.startswith("/usr/"):
            command += ["--ro-bind", root, root]
    for path in read_only:
        if Path(path).exists():
            command += ["--ro-bind", str(path), str(path)]
    command += ["--remount-ro", "/tmp"]
    command += ["--dir", JAIL_ROOT, "--dir", GRADER_DIR]
    for name, host in grader_files.items():
        command += ["--ro-bind", str(host), f"{GRADER_DIR}/{name}"]
    bound = [*_python_roots(), GRADER_DIR]
    for path in hidden:  # a path outside what is bound is not in the jail anyway
        if any(path == root or path.startswith(root + "/") for root in bound):
            command += ["--tmpfs", path]
    command += ["--ro-bind", str(submission_dir), SUBMISSION]
    command += ["--size", str(int(scratch_bytes)), "--tmpfs", SCRATCH, "--chdir", SCRATCH]
    command += ["--remount-ro", "/"]
    command += ["--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return [*command, "--", *argv]


class PidsCgroup:
    """A pids cgroup for one jail (v2 or v1), where the grader may create one; else a no-op.

    A fork bomb then stops at ``limit`` processes inside its own group, whoever the jail's user
    is outside (``RLIMIT_NPROC`` does not bind root).
    """

    def __init__(self, limit: int):
        self.path: Path | None = None
        name = f"cnnbook-jail-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        bases = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")
        for base in map(Path, bases):
            if not (base / "cgroup.procs").exists():
                continue
            try:
                path = base / name
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(f"{int(limit)}\n")
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            self.path = path
            break

    @property
    def active(self) -> bool:
        return self.path is not None

    def join(self) -> None:
        """Move the calling process into the group (called between fork and exec)."""
        if self.path is not None:
            with open(self.path / "cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))

    def kill_all(self) -> None:
        """Kill every process still in the group (a process that left the jail's session)."""
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            for line in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                    os.kill(int(line), 9)

    def remove(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            self.kill_all()
            try:
                self.path.rmdir()
                break
            except OSError:  # a process was still leaving the group
                time.sleep(0.02)
        self.path = None


def process_limit(limits: JailLimits, cgroup: PidsCgroup | None) -> int | None:
    """RLIMIT_NPROC for the jail when no cgroup bounds it: it counts every process of the user,
    so the jail gets what the user runs now plus its share (computed before the fork)."""
    if cgroup is not None and cgroup.active:
        return None
    uid = os.getuid()
    running = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                running += entry.stat().st_uid == uid
    return running + limits.processes


def set_limits(limits: JailLimits, cgroup: PidsCgroup | None, nproc: int | None) -> None:
    """Between fork and exec of ``bwrap``: the limits the jail inherits and cannot raise."""
    if cgroup is not None:
        cgroup.join()
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))
    if nproc is not None:
        # weaker than the cgroup: counts every process of this user, and root is exempt
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
