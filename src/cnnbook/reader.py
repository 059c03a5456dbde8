"""Reader notebooks: the chapters as Colab and plain Jupyter show them, made from the book's build.

The chapter notebooks (``chapters/*.ipynb``) are written for the book: their prose holds MyST roles
and directives (``{glue:text}``, ``{term}``, ``{cite:t}``, ``{numref}``, ``:::{admonition}``) that
only the book's build renders, and they are stored without outputs. A reader notebook is the same
chapter with

* every ``{glue:text}`` / ``{glue:md}`` / ``{glue}`` role replaced by the value the build computed;
* ``{term}`` roles turned into links to the website's glossary, ``{cite:t}`` / ``{cite:p}`` into
  "Author (year)" linked to the bibliography, ``{numref}`` / ``{ref}`` / ``{doc}`` into links to
  the website's figures and pages, ``{math}`` into ``$...$``;
* admonitions (``:::{admonition}``, ``{note}``, ``{tip}``, ...) turned into Markdown blockquotes;
* the build's outputs kept (figures, tables, the HTML twin of every explorer), a figure's caption
  written under it, and the input of ``remove-input`` cells collapsed.

Any other directive or role stops the conversion with an error naming the chapter and cell.

Usage (after ``jupyter-book build``, which leaves the executed chapters and their glued values in
``_build/jupyter_execute/chapters``)::

    python -m cnnbook.reader                 # write _build/reader/chapters/*.ipynb
    python -m cnnbook.reader --out DIR
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from ast import literal_eval
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ConversionError",
    "Site",
    "convert_markdown",
    "convert_notebook",
    "format_glue",
    "myst_leftovers",
    "main",
]

ROOT = Path(__file__).resolve().parents[2]

# Roles and directives the converter knows; anything else in the prose is an error.
ROLE = re.compile(r"\{(?P<name>[a-zA-Z][\w:.-]*)\}`(?P<body>[^`]*)`")
FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[^}]+)\}(?P<arg>.*)$")
TARGET = re.compile(r"^\((?P<label>[^)\s]+)\)=\s*$")
ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
}
# What no reader notebook may hold: a MyST role, or a directive fence.
LEFTOVER = re.compile(r"\{[a-zA-Z][\w:.-]*\}`|^\s*(```+|:::+)\s*\{", re.M)


class ConversionError(ValueError):
    """A chapter holds MyST that the converter cannot turn into plain Markdown."""


CODE_BLOCK = re.compile(r"^ {0,3}(?P<f>`{3,}|~{3,})(?!\{)[^\n]*\n.*?^ {0,3}(?P=f)\s*$", re.M | re.S)


def myst_leftovers(text: str) -> list[str]:
    """The MyST-only fragments of ``text`` (roles, directive fences) outside plain code blocks."""
    return [m.group(0) for m in LEFTOVER.finditer(CODE_BLOCK.sub("", text))]


def format_glue(plain: str, spec: str) -> str:
    """Format a glued value's ``text/plain`` with a format spec, as myst-nb's ``{glue:text}`` does.

    Example:
        >>> format_glue("12288", ",d")
        '12,288'
        >>> format_glue("0.9062953", ".3f")
        '0.906'
    """
    try:
        value: Any = literal_eval(plain)
    except (SyntaxError, ValueError):
        value = plain
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


# -- what the website offers links to ----------------------------------------------------------
@dataclass
class Site:
    """The website's pages, glossary terms, references and figure numbers, for links.

    Args:
        url: the site's address, ending with a slash.
        terms: glossary term (lower case) -> anchor on ``glossary.html``.
        references: bibliography key -> (authors as the site writes them, year).
        figures: figure name -> (page without suffix, number such as "2.1").
        titles: page without suffix (``assignments``, ``chapters/02-convolution``) -> its title.
    """

    url: str
    terms: dict[str, str] = field(default_factory=dict)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    figures: dict[str, tuple[str, str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    def page(self, name: str, anchor: str = "") -> str:
        return f"{self.url}{name}.html" + (f"#{anchor}" if anchor else "")

    @classmethod
    def from_book(cls, root: Path = ROOT) -> Site:
        """Read the book's ``_config.yml``, ``_toc.yml``, glossary, bibliography and chapters."""
        import yaml

        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
        site = cls(url=site_url(config))
        site.terms = glossary_terms((root / "glossary.md").read_text(encoding="utf-8"))
        site.references = references(root / "references.bib")
        toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
        numbered = []
        for part in toc.get("parts", []):
            for entry in part.get("chapters", []):
                page = entry["file"].removesuffix(".md").removesuffix(".ipynb")
                site.titles[page] = page_title(root, page)
                if part.get("numbered"):
                    numbered.append(page)
        for number, page in enumerate(numbered, start=1):
            nb = json.loads((root / f"{page}.ipynb").read_text(encoding="utf-8"))
            k = 0
            for cell in nb["cells"]:
                name = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name")
                if name:
                    k += 1
                    site.figures[name] = (page, f"{number}.{k}")
        return site


def site_url(config: dict) -> str:
    """The website's address: ``html.baseurl`` of ``_config.yml``, else the GitHub Pages address
    of ``repository.url`` (``https://github.com/org/repo`` -> ``https://org.github.io/repo/``)."""
    base = (config.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/") + "/"
    url = (config.get("repository") or {}).get("url", "")
    m = re.fullmatch(r"https://github\.com/(?P<org>[^/]+)/(?P<repo>[^/]+?)/?", url)
    if not m:
        raise ValueError(
            f"_config.yml: no html.baseurl and repository.url {url!r} is not a GitHub address"
        )
    return f"https://{m['org'].lower()}.github.io/{m['repo']}/"


def glossary_terms(text: str) -> dict[str, str]:
    """Terms of the ``{glossary}`` directive in ``text`` -> their anchors (Sphinx's ids)."""
    from sphinx.util.nodes import _make_id as make_id  # Sphinx's glossary ids keep the case

    m = re.search(r"^```\{glossary\}\s*\n(?P<body>.*?)^```", text, re.M | re.S)
    if not m:
        raise ValueError("glossary.md: no {glossary} directive")
    terms = {}
    for line in m["body"].splitlines():
        if line.strip() and not line[0].isspace() and not line.startswith(":"):
            terms[line.strip().lower()] = make_id("term-" + line.strip())
    return terms


def references(bib: Path) -> dict[str, tuple[str, str]]:
    """Bibliography key -> (authors as in an author-year citation, year)."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        names = [
            Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text")
            for p in entry.persons.get("author", [])
        ]
        if len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        out[key] = (who, entry.fields.get("year", "n.d."))
    return out


def page_title(root: Path, page: str) -> str:
    """The first ``# `` heading of a page (Markdown file or notebook)."""
    md, nb = root / f"{page}.md", root / f"{page}.ipynb"
    if md.exists():
        text = md.read_text(encoding="utf-8")
    else:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    m = re.search(r"^# (.+)$", text, re.M)
    return m.group(1).strip() if m else page


# -- Markdown ---------------------------------------------------------------------------------
def _split_target(body: str) -> tuple[str | None, str]:
    """``text <target>`` -> (text, target); ``target`` -> (None, target)."""
    m = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>", body.strip(), re.S)
    if m:
        return m["text"], m["target"].strip()
    return None, body.strip()


def _role(name: str, body: str, site: Site, glue: dict[str, dict], where: str) -> str:
    if name in ("glue:text", "glue", "glue:"):
        key, _, spec = body.partition(":") if name == "glue:text" else (body, "", "")
        key = key.strip()
        if key not in glue:
            raise ConversionError(f"{where}: {{{name}}}`{body}`: no value glued under {key!r}")
        data = glue[key].get("data", {})
        if "text/plain" not in data or (name != "glue:text" and "image/png" in data):
            raise ConversionError(f"{where}: {{{name}}}`{body}`: the glued value is not text")
        try:
            return format_glue(data["text/plain"], spec)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"{where}: {{{name}}}`{body}`: {exc}") from exc
    if name == "glue:md":
        key, _, _ = body.partition(":")
        data = glue.get(key.strip(), {}).get("data", {})
        if "text/markdown" not in data:
            raise ConversionError(f"{where}: {{glue:md}}`{body}`: no Markdown glued under {key!r}")
        return data["text/markdown"]
    if name == "term":
        text, target = _split_target(body)
        anchor = site.terms.get(target.lower())
        if anchor is None:
            raise ConversionError(f"{where}: {{term}}`{body}`: {target!r} is not in the glossary")
        return f"[{text or target}]({site.page('glossary', anchor)})"
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        parts = []
        for key in (k.strip() for k in body.split(",")):
            if key not in site.references:
                raise ConversionError(f"{where}: {{{name}}}`{body}`: no reference {key!r}")
            who, year = site.references[key]
            link = site.page("bibliography", f"cite-{key}")
            parts.append(
                f"[{who} ({year})]({link})"
                if name.startswith("cite:t")
                else f"[{who}, {year}]({link})"
            )
        return "; ".join(parts) if name.startswith("cite:t") else f"({'; '.join(parts)})"
    if name in ("numref", "ref"):
        text, target = _split_target(body)
        if target not in site.figures:
            raise ConversionError(f"{where}: {{{name}}}`{body}`: no figure named {target!r}")
        page, number = site.figures[target]
        if text is None:
            text = f"Fig. {number}"
        elif "%s" in text:
            text = text.replace("%s", number)
        return f"[{text}]({site.page(page, target)})"
    if name == "doc":
        text, target = _split_target(body)
        page = re.sub(r"^(\.\./)+|^/", "", target).removesuffix(".md").removesuffix(".ipynb")
        if page not in site.titles:
            raise ConversionError(f"{where}: {{doc}}`{body}`: no page {page!r} in the book")
        return f"[{text or site.titles[page]}]({site.page(page)})"
    if name == "math":
        return f"${body}$"
    raise ConversionError(
        f"{where}: the role {{{name}}} has no Colab form; add it to cnnbook.reader"
    )


def _roles(text: str, site: Site, glue: dict[str, dict], where: str) -> str:
    out, pos = [], 0
    for m in ROLE.finditer(text):
        out += [text[pos : m.start()], _role(m["name"], m["body"], site, glue, where)]
        pos = m.end()
    return "".join(out + [text[pos:]])


def convert_markdown(text: str, site: Site, glue: dict[str, dict], where: str = "cell") -> str:
    """One markdown cell of a chapter in plain Markdown (see the module's docstring)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_code = None  # the fence of a plain code block (``` or ~~~), whose text is left alone
    while i < len(lines):
        line = lines[i]
        if in_code is not None:
            out.append(line)
            if line.strip().startswith(in_code) and line.strip().strip(in_code[0]) == "":
                in_code = None
            i += 1
            continue
        opener = FENCE_OPEN.match(line)
        if opener is None and re.match(r"^ {0,3}(`{3,}|~{3,})", line):
            in_code = re.match(r"^ {0,3}(`{3,}|~{3,})", line).group(1)
            out.append(line)
            i += 1
            continue
        if TARGET.match(line) or line.startswith("% "):
            i += 1  # a label for cross-references, or a MyST comment: nothing to show
            continue
        if opener is None:
            out.append(_roles(line, site, glue, where))
            i += 1
            continue
        fence, name = opener["fence"], opener["name"].strip()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j])
            j += 1
        if j == len(lines):
            raise ConversionError(f"{where}: the {{{name}}} directive is never closed")
        options = {}
        while body and re.match(r"^:[\w-]+:", body[0]):
            key, _, value = body.pop(0)[1:].partition(":")
            options[key] = value.strip()
        content = convert_markdown("\n".join(body).strip("\n"), site, glue, where)
        arg = _roles(opener["arg"].strip(), site, glue, where)
        if name == "admonition" or name in ADMONITIONS:
            title = arg if name == "admonition" else ADMONITIONS[name] + (f": {arg}" if arg else "")
            if not title:
                raise ConversionError(f"{where}: an admonition without a title")
            quoted = [f"> **{title}**", ">"] + [f"> {x}".rstrip() for x in content.split("\n")]
            out += quoted
        elif name == "math":
            out += ["$$", content, "$$"]
        else:
            raise ConversionError(
                f"{where}: the directive {{{name}}} has no Colab form; add it to cnnbook.reader"
            )
        i = j + 1
    result = "\n".join(out)
    left = myst_leftovers(result)
    if left:
        raise ConversionError(f"{where}: MyST left after conversion: {left}")
    return result


# -- notebooks --------------------------------------------------------------------------------
def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def convert_notebook(
    chapter: dict, executed: dict, glue: dict[str, dict], site: Site, name: str
) -> dict:
    """The reader notebook of one chapter.

    Args:
        chapter: the chapter notebook as stored (``chapters/<name>.ipynb``), for its sources.
        executed: the same notebook as the build executed it, for its outputs.
        glue: the build's glued values of the chapter (``<name>.glue.json``).
        site: the website's pages and anchors.
        name: the chapter's page, e.g. ``chapters/02-convolution``.

    Raises:
        ConversionError: the executed notebook is of another version of the chapter, or the
            prose holds MyST the converter cannot convert.
    """
    cells, ran = chapter["cells"], executed["cells"]
    if [_source(c) for c in cells] != [_source(c) for c in ran]:
        raise ConversionError(
            f"{name}: the build's executed notebook is of another version of the chapter; "
            "rebuild the book (make book) first"
        )
    out = []
    page = site.page(name)
    out.append(
        {
            "cell_type": "markdown",
            "metadata": {"cnnbook": "reader-header"},
            "source": (
                f"*This notebook is generated from `{name}.ipynb` of the CNN book and shows the "
                f"outputs of the book's build. The chapter on the website: <{page}>.*"
            ),
        }
    )
    for index, (cell, done) in enumerate(zip(cells, ran, strict=True)):
        where = f"{name}, cell {index}"
        new = {k: copy.deepcopy(v) for k, v in cell.items() if k not in ("outputs", "id")}
        new["source"] = _source(cell)
        if cell["cell_type"] == "markdown":
            new["source"] = convert_markdown(new["source"], site, glue, where)
            out.append(new)
            continue
        if cell["cell_type"] != "code":
            out.append(new)
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        outputs = []
        for o in done.get("outputs", []):
            if o.get("metadata", {}).get("scrapbook"):
                continue  # a glued value: already written into the prose
            if (
                o["output_type"] == "stream"
                and o.get("name") == "stderr"
                and "remove-stderr" in tags
            ):
                continue
            o = copy.deepcopy(o)
            if "data" in o:
                # Without the widget's saved state a front end would show "model not found";
                # the HTML twin of the explorer is there and works without a kernel.
                o["data"].pop("application/vnd.jupyter.widget-view+json", None)
            outputs.append(o)
        new["outputs"] = outputs
        new["execution_count"] = done.get("execution_count")
        meta = new.setdefault("metadata", {})
        if "remove-input" in tags:
            meta["jupyter"] = {**meta.get("jupyter", {}), "source_hidden": True}
        out.append(new)
        figure = meta.get("mystnb", {}).get("figure", {})
        if figure.get("name") in site.figures:
            number = site.figures[figure["name"]][1]
            caption = convert_markdown(figure.get("caption", ""), site, glue, where)
            out.append(
                {
                    "cell_type": "markdown",
                    "metadata": {"cnnbook": "figure-caption"},
                    "source": f'<a id="{figure["name"]}"></a>**Fig. {number}.** {caption}',
                }
            )
    metadata = {
        k: v for k, v in chapter.get("metadata", {}).items() if k in ("kernelspec", "language_info")
    }
    metadata["colab"] = {"name": f"{name.rsplit('/', 1)[-1]}.ipynb", "provenance": []}
    return {"cells": out, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _with_ids(nb: dict) -> dict:
    for k, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{k}"
    return nb


def convert_book(executed_dir: Path, out_dir: Path, root: Path = ROOT) -> list[Path]:
    """Write the reader notebook of every chapter of the table of contents into ``out_dir``."""
    site = Site.from_book(root)
    written = []
    for page in [p for p in site.titles if p.startswith("chapters/")]:
        chapter = json.loads((root / f"{page}.ipynb").read_text(encoding="utf-8"))
        ran_path = executed_dir / f"{page}.ipynb"
        glue_path = executed_dir / f"{page}.glue.json"
        if not ran_path.exists():
            raise ConversionError(f"{ran_path}: missing; build the book (make book) first")
        ran = json.loads(ran_path.read_text(encoding="utf-8"))
        glue = json.loads(glue_path.read_text(encoding="utf-8")) if glue_path.exists() else {}
        nb = _with_ids(convert_notebook(chapter, ran, glue, site, page))
        target = out_dir / f"{page}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=ROOT / "_build" / "jupyter_execute")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "reader")
    args = parser.parse_args(argv)
    try:
        written = convert_book(args.executed, args.out)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
