"""Fast checks of the book's sources: toc, configuration, chapter notebooks, glue, terms, citations.

None of these builds the book; the browser test (test_site.py) checks the built website.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = [
    "01-mlp-to-cnn",
    "02-convolution",
    "03-activations",
    "04-pooling",
    "05-batchnorm",
    "06-training",
    "07-transfer-learning",
]
SYLLABUS_KEYS = [
    "lecun1998gradient",
    "krizhevsky2012imagenet",
    "simonyan2015very",
    "szegedy2015going",
    "he2016deep",
    "tan2019efficientnet",
    "ioffe2015batch",
    "santurkar2018how",
    "srivastava2014dropout",
    "he2015delving",
    "zhang2019making",
    "oshea2015introduction",
    "hubel1962receptive",
    "dumoulin2016guide",
    "yosinski2014transferable",
]


def load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def toc_files() -> list[str]:
    toc = load_yaml("_toc.yml")
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [entry["file"] for entry in part["chapters"]]
    return files


def chapter(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)


def markdown_of(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def code_of(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_toc_lists_every_chapter_in_order_and_every_entry_exists():
    files = toc_files()
    assert [f for f in files if f.startswith("chapters/")] == [f"chapters/{c}" for c in CHAPTERS]
    for extra in ("intro", "assignments", "glossary", "bibliography"):
        assert extra in files, f"_toc.yml has no entry for {extra}"
    for f in files:
        candidates = [ROOT / f"{f}.md", ROOT / f"{f}.ipynb"]
        assert any(p.exists() for p in candidates), f"_toc.yml lists {f}, which does not exist"


def test_config_executes_every_chapter_strictly_and_offline():
    config = load_yaml("_config.yml")
    assert config["only_build_toc_files"] is True
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["allow_errors"] is False
    assert 0 < execute["timeout"] <= 600
    sphinx = config["sphinx"]["config"]
    # MathJax and widgets from the site itself, never a CDN
    assert "://" not in sphinx["mathjax_path"]
    assert sphinx["nb_ipywidgets_js"] == {}
    # the HTML build shows each explorer's self-contained text/html face, never the live widget
    overrides = {(b, mime): prio for b, mime, prio in sphinx["nb_mime_priority_overrides"]}
    assert overrides[("html", "application/vnd.jupyter.widget-view+json")] is None
    assert overrides[("html", "text/html")] is not None
    assert "sphinx_thebe" not in sphinx["extensions"]  # loads thebe from a CDN when enabled
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/")
    for excluded in ("solutions", "exercises", "_build", ".venv", "README.md", "tests"):
        assert excluded in config["exclude_patterns"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_first_code_cell_installs_in_colab_only_then_seeds_and_names_the_device(name):
    nb = chapter(name)
    first = next(c for c in nb.cells if c.cell_type == "code").source
    url = load_yaml("_config.yml")["repository"]["url"].rstrip("/")
    guard = 'if "google.colab" in sys.modules:'
    install = f'%pip install -q "cnnbook @ git+{url}"'
    assert guard in first and install in first, f"{name}: first code cell lacks the Colab install"
    # the install line sits inside the Colab guard, so local runs never reinstall
    lines = first.splitlines()
    i = next(k for k, line in enumerate(lines) if install in line)
    assert lines[i - 1].startswith(guard) and lines[i].startswith("    ")
    assert "import cnnbook" in first
    assert "set_seed(" in first
    assert "describe_device()" in first


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapters_are_stored_without_outputs(name):
    for cell in chapter(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_glued_name_in_the_prose_is_glued_in_the_code(name):
    nb = chapter(name)
    used = set(re.findall(r"\{glue:text\}`([A-Za-z_][A-Za-z0-9_]*)", markdown_of(nb)))
    code = code_of(nb)
    glued = set(re.findall(r"""glue\(\s*f?["']([A-Za-z_{][A-Za-z0-9_{}]*)["']""", code))
    # glue(f"border_{mode}", ...) or glue(f"{strategy}_small", ...) inside a loop: a placeholder
    # stands for any identifier part
    for pattern in [g for g in glued if "{" in g]:
        regex = re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(pattern)))
        glued |= {u for u in used if regex.fullmatch(u)}
    assert used, f"{name} glues no computed number into its prose"
    assert used <= glued, f"{name}: prose refers to unglued names {sorted(used - glued)}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_written_chapters_have_objectives_summary_assignment_and_citations(name):
    text = markdown_of(chapter(name))
    assert "Learning objectives" in text
    assert "## Summary" in text
    assert f"exercises/{name}/" in text and "{doc}`../assignments`" in text
    assert "{cite" in text
    assert "$" in text, f"{name} has no mathematics"


@pytest.mark.parametrize("name", CHAPTERS)
def test_written_chapters_show_an_explorer_and_paste_no_helpers(name):
    code = code_of(chapter(name))
    assert re.search(r"\b\w+\.\w+_explorer\(", code), f"{name} has no interactive explorer"
    # plotting and explorer code lives in the package, not in the notebook
    assert "plt.subplots" not in code and "ipywidgets" not in code


def test_every_term_used_is_in_the_glossary():
    glossary = (ROOT / "glossary.md").read_text(encoding="utf-8")
    block = glossary.split("```{glossary}")[1].split("```")[0]
    defined = {line.strip() for line in block.splitlines() if line and not line.startswith(" ")}
    for name in CHAPTERS:
        for term in re.findall(r"\{term\}`([^`]+)`", markdown_of(chapter(name))):
            target = re.search(r"<([^>]+)>", term)
            key = (target.group(1) if target else term).strip()
            assert key in defined, f"{name} uses {{term}} {key!r}, missing from glossary.md"


def test_every_citation_exists_and_the_syllabus_list_is_complete():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    assert set(SYLLABUS_KEYS) <= keys, f"missing: {sorted(set(SYLLABUS_KEYS) - keys)}"
    sources = [markdown_of(chapter(n)) for n in CHAPTERS]
    sources += [(ROOT / f).read_text(encoding="utf-8") for f in ("intro.md", "glossary.md")]
    for text in sources:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in keys, f"{key.strip()} is cited but not in references.bib"
