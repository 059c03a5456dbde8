"""Where datasets are stored, whether the network may be used, and atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["data_home", "offline", "atomic_path"]


def data_home(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``root`` if given, else ``$CNNBOOK_DATA``, else ``~/.cache/cnnbook``.

    The folder is created when missing.
    """
    if root is None:
        root = os.environ.get("CNNBOOK_DATA") or Path.home() / ".cache" / "cnnbook"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline() -> bool:
    """True when ``CNNBOOK_OFFLINE`` is set to something other than "", "0", "false" or "no"."""
    return os.environ.get("CNNBOOK_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds.

    A failing block (exception) removes the temporary file, so a reader never sees a partial file.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)  # atomic on POSIX and Windows within one folder
    finally:
        tmp.unlink(missing_ok=True)
