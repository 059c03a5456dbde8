"""A Colab-like virtual environment, built without Colab, for the colab tests.

Colab preinstalls its own numpy, torch, matplotlib, ipywidgets, IPython and ipykernel, imports
``google.colab`` in every kernel, and runs a notebook's ``%pip install`` into that same
environment. This module builds such an environment once into ``.cnnbook-cache/colab-env``:

* packages at versions other than the book's (``COLAB_PINS``: numpy 1.x, ipywidgets 7, IPython 7
  and ipykernel 6 as Colab has long shipped them, an older matplotlib and tqdm);
* torch: the book's own build, linked in from ``.venv`` through a ``.pth`` file (the only CPU build
  at hand offline; a second one would be a download of several hundred MB), its pure-Python
  dependencies installed at this environment's versions;
* a stand-in ``google.colab`` package, imported at every kernel's start by an IPython startup file,
  and a kernel spec ``colab-like`` (found through ``JUPYTER_PATH``).

Run as a script (``make colab-env``) it builds the environment if it is missing or out of date.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cnnbook-cache" / "colab-env"
KERNEL = "colab-like"
# Colab-like versions, each different from what the book's .venv installs.
COLAB_PINS = [
    "numpy==1.26.4",
    "matplotlib==3.8.4",
    "ipywidgets==7.7.1",
    "widgetsnbextension==3.6.10",
    "ipython==7.34.0",
    "ipykernel==6.17.1",
    "jupyter-client==7.4.9",
    "tqdm==4.66.6",
    "pillow==10.4.0",
    "pyzmq==24.0.1",
    "notebook==6.5.5",
]
STANDIN = '''\
"""A stand-in for Colab's google.colab package (tests only): the parts a notebook may call."""

STANDIN = True
'''
STANDIN_OUTPUT = '''\
def enable_custom_widget_manager():
    """Colab needs this for third-party widgets; nothing to do outside Colab."""
'''
STANDIN_FILES = '''\
downloaded = []


def download(filename):
    """Colab offers the file to the browser; the stand-in records the name."""
    downloaded.append(str(filename))
'''


def python(env: Path = CACHE) -> Path:
    return env / "venv" / "bin" / "python"


def site_packages(env: Path = CACHE) -> Path:
    found = sorted((env / "venv" / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"{env}: no site-packages")
    return found[0]


def _fingerprint() -> str:
    """What the environment is made of: the pins, this file, the book's torch build."""
    torch = metadata.distribution("torch")
    text = "\n".join(COLAB_PINS) + Path(__file__).read_text() + str(torch.locate_file(""))
    return hashlib.sha256((text + torch.version).encode()).hexdigest()[:16]


def _run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], check=True)


def _link_torch(env: Path) -> list[str]:
    """Expose the book's torch (and its CUDA libraries, if any) to the environment; return the
    requirements of torch that are left for pip."""
    torch = metadata.distribution("torch")
    linked = {"torch"} | {
        d.metadata["Name"].lower()
        for d in metadata.distributions()
        if d.metadata["Name"].lower().startswith(("nvidia-", "triton"))
    }
    folder = env / "book-torch"
    folder.mkdir(parents=True, exist_ok=True)
    for dist in metadata.distributions():
        if dist.metadata["Name"].lower() not in linked:
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            link = folder / top
            if source.exists() and not link.exists() and not top.startswith("__pycache__"):
                link.symlink_to(source)
    (site_packages(env) / "book-torch.pth").write_text(str(folder) + "\n")
    left = []
    for req in torch.requires or []:
        name = req.split(";")[0].strip()
        bare = name.split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("!")[0]
        bare = bare.split("~")[0].strip().lower()
        marker = req.split(";", 1)[1] if ";" in req else ""
        if bare in linked or "extra ==" in marker:
            continue
        left.append(req)
    return left


def _standin(env: Path) -> None:
    colab = site_packages(env) / "google" / "colab"
    colab.mkdir(parents=True, exist_ok=True)
    (colab / "__init__.py").write_text(STANDIN)
    (colab / "output.py").write_text(STANDIN_OUTPUT)
    (colab / "files.py").write_text(STANDIN_FILES)
    startup = env / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-colab.py").write_text("import google.colab  # as Colab's kernels do\n")
    spec = env / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [str(python(env)), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab-like)",
        "language": "python",
        "env": {"IPYTHONDIR": str(env / "ipython")},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1))


@contextlib.contextmanager
def _lock(env: Path):
    env.mkdir(parents=True, exist_ok=True)
    with open(env.parent / "colab-env.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(env: Path = CACHE) -> Path:
    """Build the environment into ``env`` unless an up-to-date one is there; return ``env``."""
    stamp = env / "ready"
    with _lock(env):
        if stamp.exists() and stamp.read_text() == _fingerprint() and python(env).exists():
            return env
        _run(sys.executable, "-c", f"import shutil; shutil.rmtree({str(env / 'venv')!r}, True)")
        _run(sys.executable, "-m", "venv", env / "venv")
        left = _link_torch(env)
        _run(python(env), "-m", "pip", "install", "-q", *COLAB_PINS, *left)
        _standin(env)
        stamp.write_text(_fingerprint())
    return env


def jupyter_path(env: Path = CACHE) -> str:
    """The ``JUPYTER_PATH`` under which the ``colab-like`` kernel spec is found."""
    return os.pathsep.join([str(env / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])])


def freeze(env: Path = CACHE) -> dict[str, str]:
    """Every distribution of the environment -> its version (pip's own view)."""
    out = subprocess.run(
        [str(python(env)), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


if __name__ == "__main__":
    print(ensure(), sysconfig.get_python_version())
