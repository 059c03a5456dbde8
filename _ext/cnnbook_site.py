"""The book's own Sphinx extension: MathJax only on pages that have mathematics of their own.

Sphinx adds MathJax (1.3 MB here) to a page that has equations or whose toctree includes a page
that has (``MathDomain.has_equations``), so the book's root page, whose toctree lists every
chapter, loads it for nothing. This handler runs after Sphinx's (priority 600 > 500) and takes the
MathJax scripts off any page without equations of its own. tests/book/test_site.py checks that
pages without mathematics load no MathJax and that the pages with mathematics still typeset it.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from sphinx.application import Sphinx


def _mathjax_only_where_needed(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if app.builder.format != "html" or getattr(app.builder, "math_renderer_name", "") != "mathjax":
        return
    if app.env.get_domain("math").data["has_equations"].get(pagename, False):
        return
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    mathjax = os.fspath(app.config.mathjax_path)
    # Sphinx's add_js_file puts a relative path under _static/ (as in "_static/../mathjax/...").
    names = {mathjax, mathjax if "://" in mathjax else posixpath.join("_static", mathjax)}
    scripts[:] = [
        js
        for js in scripts
        if os.fspath(js.filename or "") not in names  # inline scripts have no file name
        and not (js.attributes.get("body") or "").startswith(("window.MathJax", "MathJax.Hub"))
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _mathjax_only_where_needed, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
