"""The chapters and assignments as a Colab user meets them (issue 17), after `make book`.

* The reader notebooks of the build (``_build/reader``, what the pages workflow publishes) are
  what the converter makes of the chapters, hold no MyST, show every glued value, and link to
  anchors that exist on the built site.
* In a Colab-like environment (tests/colab/colab_env.py: other numpy, matplotlib, ipywidgets,
  IPython, ipykernel; ``google.colab`` imported by the kernel), installing the package from a
  wheel of the working tree changes no preinstalled package; then every reader notebook, and
  every exercise notebook with the instructor's solutions filled in, runs top to bottom with its
  first cell's ``%pip install`` pointed at that wheel.

`make colab-test` runs these (marker ``colab``); they skip when the book is not built.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build"
READER = BUILD / "reader" / "chapters"
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
ASSIGNMENTS = sorted(
    p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists()
)
SITE = "https://cnn-book.github.io/cnn-book/"
INSTALL = re.compile(r'"cnnbook @ git\+[^"]*"')

_spec = importlib.util.spec_from_file_location(
    "colab_env", Path(__file__).with_name("colab_env.py")
)
colab_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_env)


def built() -> None:
    if not (BUILD / "html" / "index.html").exists() or not READER.exists():
        pytest.skip("the book is not built: run `make book` (make colab-test does)")


def md_text(nb: dict) -> list[str]:
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
    ]


# -- the reader notebooks -----------------------------------------------------------------------
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_reader_notebook_is_a_fresh_conversion_without_myst(chapter, tmp_path):
    built()
    from cnnbook import reader

    published = json.loads((READER / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    reader.convert_book(BUILD / "jupyter_execute", tmp_path)
    fresh = json.loads((tmp_path / "chapters" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    assert fresh == published, f"{chapter}: _build/reader drifted from a fresh conversion"
    # The site's download button serves the same file.
    download = BUILD / "html" / "_sources" / "chapters" / f"{chapter}.ipynb"
    assert json.loads(download.read_text(encoding="utf-8")) == published

    text = "\n".join(md_text(published))
    for pattern in (r"\{glue", r"\{term\}", r"\{cite", r"\{numref\}", r"\{doc\}", r"\{ref\}"):
        assert not re.search(pattern, text), f"{chapter}: {pattern} left in the prose"
    assert not re.search(r"^\s*(```|:::)\s*\{", text, re.M), f"{chapter}: a directive left"
    # Outputs kept: the figures a reader sees before running anything.
    pngs = [
        o
        for c in published["cells"]
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert pngs, f"{chapter}: no figure output kept"


def _plain(value: str, spec: str) -> str:
    """A glued text/plain value formatted with a spec (written here independently of the code)."""
    if spec and spec[-1] in "dxXbo":
        return format(int(value), spec)
    if spec and spec[-1] in "eEfFgG%":
        return format(float(value), spec)
    return value.strip("'\"") if not spec else format(value.strip("'\""), spec)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_glued_value_is_in_the_reader_prose(chapter):
    built()
    source = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    published = json.loads((READER / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    glue = json.loads(
        (BUILD / "jupyter_execute" / "chapters" / f"{chapter}.glue.json").read_text(
            encoding="utf-8"
        )
    )
    # The generated header and figure captions are markdown cells of their own.
    prose = {
        **published,
        "cells": [c for c in published["cells"] if "cnnbook" not in c["metadata"]],
    }
    converted = iter(md_text(prose))
    checked = 0
    for src in md_text(source):
        out = next(converted)
        for key, spec in re.findall(r"\{glue:text\}`(\w+):?([^`]*)`", src):
            want = _plain(glue[key]["data"]["text/plain"], spec)
            assert want in out, f"{chapter}: {key}:{spec} = {want!r} missing from {out[:200]!r}"
            checked += 1
        for key in re.findall(r"\{glue:md\}`(\w+)`", src):
            assert glue[key]["data"]["text/markdown"] in out
            checked += 1
    assert checked > 0, f"{chapter}: no glued value found"


def _ids(page: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', (BUILD / "html" / page).read_text(encoding="utf-8")))


def test_reader_links_point_to_anchors_of_the_built_site():
    built()
    links = set()
    for chapter in CHAPTERS:
        nb = json.loads((READER / f"{chapter}.ipynb").read_text(encoding="utf-8"))
        links |= set(
            re.findall(re.escape(SITE) + r"([\w/.-]+\.html)#([\w-]+)", "\n".join(md_text(nb)))
        )
    assert any(p == "glossary.html" for p, _ in links) and any(
        p == "bibliography.html" for p, _ in links
    )
    for page, anchor in sorted(links):
        assert anchor in _ids(page), f"{page}#{anchor}: no such anchor on the built site"
    # Figure numbers as the site prints them.
    for chapter in CHAPTERS:
        page = (BUILD / "html" / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        nb = json.loads((READER / f"{chapter}.ipynb").read_text(encoding="utf-8"))
        for name, number in re.findall(
            r'<a id="([\w-]+)"></a>\*\*Fig\. ([\d.]+)\.\*\*', "\n".join(md_text(nb))
        ):
            block = page[page.index(f'id="{name}"') :][:3000]
            shown = re.search(r'caption-number">Fig\. ([\d.]+)', block)
            assert shown and shown.group(1) == number, f"{chapter}: {name} is Fig. {number} here"


def test_colab_button_opens_the_published_reader_notebook():
    built()
    for chapter in CHAPTERS:
        page = (BUILD / "html" / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        hrefs = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page)
        assert hrefs, f"{chapter}: no Colab button"
        path = html.unescape(hrefs[0]).split("/blob/notebooks/", 1)
        assert len(path) == 2, f"{chapter}: {hrefs[0]} does not open the branch 'notebooks'"
        # The workflow pushes _build/reader as the branch's tree.
        assert (BUILD / "reader" / path[1]).exists(), f"{chapter}: {path[1]} is not published"


# -- the Colab-like environment -----------------------------------------------------------------
def _wheel(out: Path) -> Path:
    """A wheel of the working tree, built from a copy (no build/ left in the checkout)."""
    tree = out / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", tree / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    wheels = out / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(tree),
        ],
        check=True,
    )
    (wheel,) = wheels.glob("cnnbook-*.whl")
    return wheel


@pytest.fixture(scope="session")
def colab():
    """The environment with the working tree's cnnbook installed once per session (across xdist
    workers: under the environment's lock, keyed by the wheel's hash)."""
    env = colab_env.ensure()
    os.environ["JUPYTER_PATH"] = colab_env.jupyter_path(env)
    with colab_env._lock(env):
        # Keyed by the sources, not the wheel's bytes (a zip holds timestamps): a second xdist
        # worker must reuse the install, not redo it under the first worker's running notebooks.
        files = sorted((ROOT / "src").rglob("*.py")) + [ROOT / "pyproject.toml"]
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
        report = env / "install-report.json"
        done = json.loads(report.read_text()) if report.exists() else {}
        wheels = list((env / "wheel").glob("cnnbook-*.whl"))
        if done.get("digest") != digest or not wheels:
            wheel = _wheel(env)
            pip = [str(colab_env.python(env)), "-m", "pip"]
            subprocess.run([*pip, "uninstall", "-q", "-y", "cnnbook"], check=True)
            before = colab_env.freeze(env)
            subprocess.run([*pip, "install", "-q", f"cnnbook @ {wheel.as_uri()}"], check=True)
            after = colab_env.freeze(env)
            done = {"digest": digest, "before": before, "after": after}
            report.write_text(json.dumps(done, indent=1))
        (wheel,) = (env / "wheel").glob("cnnbook-*.whl")
    return {"env": env, "wheel": wheel, **done}


def test_installing_cnnbook_changes_no_preinstalled_package(colab):
    before, after = colab["before"], colab["after"]
    assert "cnnbook" not in before and after.get("cnnbook") == "0.1.0"
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    added = sorted(set(after) - set(before) - {"cnnbook"})
    assert changed == {} and added == [], f"installing cnnbook changed {changed}, added {added}"
    # The environment really differs from the book's where Colab's does.
    for name, version in (("numpy", "1.26.4"), ("ipywidgets", "7.7.1"), ("ipython", "7.34.0")):
        assert before[name] == version
    assert before["torch"]  # Colab's torch is preinstalled too (here: the book's build, linked)


PROBE = """\
import json, sys
import cnnbook, numpy, torch, ipywidgets
print("PROBE" + json.dumps({"cnnbook": cnnbook.__file__, "numpy": numpy.__version__,
    "ipywidgets": ipywidgets.__version__, "colab": "google.colab" in sys.modules}))
"""


def _run_in_colab(nb: dict, colab: dict, cwd: Path) -> dict:
    """Point the install line at the wheel, run the notebook, return what the probe printed."""
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert INSTALL.search(first.source), "the first code cell has no install line"
    first.source = INSTALL.sub(f'"cnnbook @ {colab["wheel"].as_uri()}"', first.source)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb, kernel_name=colab_env.KERNEL, timeout=600, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    probe = json.loads(text.split("PROBE", 1)[1])
    site = str(colab_env.site_packages(colab["env"]))
    assert probe["cnnbook"].startswith(site), f"cnnbook imported from {probe['cnnbook']}"
    assert probe["numpy"] == "1.26.4" and probe["ipywidgets"] == "7.7.1" and probe["colab"]
    return probe


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_reader_notebook_runs_in_colab(colab, chapter, tmp_path):
    built()
    nb = nbformat.read(READER / f"{chapter}.ipynb", as_version=4)
    _run_in_colab(nb, colab, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []


def _with_solutions(assignment: str) -> nbformat.NotebookNode:
    """The student's notebook with every answer cell replaced by the instructor's answer."""
    exercise = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    filled = 0
    for cell in exercise.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("solution"):
            cell.source = answers[grading["grade_id"]]
            filled += 1
    assert filled > 0
    return exercise


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_with_solutions_passes_its_visible_tests_in_colab(colab, assignment, tmp_path):
    nb = _with_solutions(assignment)
    intro = nb.cells[0].source
    assert "Colab" in intro and "Download .ipynb" in intro and f"`{assignment}.ipynb`" in intro
    visible = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    ]
    assert visible, f"{assignment}: no test cell"
    _run_in_colab(nb, colab, tmp_path)  # raises CellExecutionError on a failing test cell


def test_live_explorers_follow_their_controls_with_colabs_ipywidgets(colab, tmp_path):
    """tests/book/test_widgets_live.py's check in the Colab-like kernel (ipywidgets 7)."""
    path = ROOT / "tests" / "book" / "test_widgets_live.py"
    spec = importlib.util.spec_from_file_location("widgets_live", path)
    live = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(live)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(live.CODE)])
    client = NotebookClient(
        nb,
        kernel_name=colab_env.KERNEL,
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    report = json.loads(text.split("REPORT", 1)[1])
    assert sorted(report) == sorted(live.EXPLORERS)
    for name, moves in report.items():
        assert all(m["shown"] == m["twin"] for m in moves), name
        assert any(m["shown"] != m["before"] for m in moves), name
