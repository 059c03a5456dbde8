"""Shared by the benchmark scripts: each owns one marked section of ``benchmarks/RESULTS.md``.

A script replaces the text between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` (appending
the section when it is missing), so that several benchmarks share one results file without
overwriting each other's numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Put ``text`` in the section ``name`` of ``path``, keeping every other section."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    path.write_text(new + "\n", encoding="utf-8")
