"""Write the repository address of `_config.yml` into the Colab install line of every notebook.

The address lives in one place, `_config.yml` (`repository.url`). Every chapter and assignment
notebook installs the package in Colab with::

    %pip install -q "cnnbook @ git+<repository.url>"

Usage:
    python scripts/sync_repo_url.py           # rewrite the notebooks that drifted
    python scripts/sync_repo_url.py --check   # list them and exit 1 if any drifted (tests use it)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = ("chapters", "solutions", "exercises")
# The requirement inside the quotes of the install line: everything after "git+" up to the quote.
REQUIREMENT = re.compile(r'(?P<head>"cnnbook @ git\+)(?P<url>[^"]*)(?P<tail>")')


def repository_url(root: Path = ROOT) -> str:
    """The `repository.url` of the book's `_config.yml`, without a trailing slash."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = (config.get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"_config.yml repository.url: got {url!r}, expected an https:// address")
    return url.rstrip("/")


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the chapters, solutions and exercises, checkpoints excluded."""
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [
            p
            for p in sorted((root / folder).rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in p.parts
        ]
    return found


def install_urls(path: Path) -> list[str]:
    """The addresses of every install requirement in the notebook's code cells."""
    nb = nbformat.read(path, as_version=4)
    return [
        m.group("url")
        for cell in nb.cells
        if cell.cell_type == "code"
        for m in REQUIREMENT.finditer(cell.source)
    ]


def sync(path: Path, url: str, write: bool = True) -> bool:
    """Point every install requirement of ``path`` at ``url``; return True if one differed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new = REQUIREMENT.sub(lambda m: m.group("head") + url + m.group("tail"), cell.source)
        if new != cell.source:
            cell.source = new
            changed = True
    if changed and write:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift, exit 1 if any")
    args = parser.parse_args(argv)
    url = repository_url()
    drifted = [p for p in notebooks() if sync(p, url, write=not args.check)]
    for p in drifted:
        verb = "drifted from" if args.check else "now installs from"
        print(f"{p.relative_to(ROOT)}: {verb} {url}")
    return 1 if (args.check and drifted) else 0


if __name__ == "__main__":
    sys.exit(main())
