"""The reader-notebook converter (cnnbook.reader) on small hand-written chapters.

The converted text is compared with what a reader should see, written out by hand here; the real
chapters are checked after the book's build by tests/colab/test_reader_notebooks.py.
"""

from __future__ import annotations

import pytest

from cnnbook import reader

SITE = reader.Site(
    url="https://org.github.io/book/",
    terms={"kernel": "term-kernel", "feature map": "term-feature-map"},
    references={
        "lecun1998gradient": ("LeCun et al.", "1998"),
        "hubel1962": ("Hubel and Wiesel", "1962"),
    },
    figures={"fig-a": ("chapters/02-conv", "2.3")},
    titles={"assignments": "Assignments", "chapters/02-conv": "Convolution"},
)


def glued(**values):
    return {
        k: {"data": {"text/markdown": v[3:]} if v.startswith("md:") else {"text/plain": v}}
        for k, v in values.items()
    }


def test_glue_text_is_formatted_as_the_build_formats_it():
    glue = glued(n="12288", err="3.2e-07", acc="0.9123", name="'MNIST'")
    text = (
        "{glue:text}`n:,d` inputs, error {glue:text}`err:.1e`, "
        "{glue:text}`acc:.1%` on {glue:text}`name`"
    )
    assert (
        reader.convert_markdown(text, SITE, glue) == "12,288 inputs, error 3.2e-07, 91.2% on MNIST"
    )


def test_glue_md_inserts_the_markdown():
    glue = glued(table="md:| a | b |\n|---|---|\n| 1 | 2 |")
    assert (
        reader.convert_markdown("{glue:md}`table`", SITE, glue) == "| a | b |\n|---|---|\n| 1 | 2 |"
    )


def test_terms_link_to_the_glossary_whatever_their_text():
    out = reader.convert_markdown("a {term}`kernel` and {term}`maps <feature map>`", SITE, {})
    assert out == (
        "a [kernel](https://org.github.io/book/glossary.html#term-kernel) and "
        "[maps](https://org.github.io/book/glossary.html#term-feature-map)"
    )


def test_citations_read_author_year_and_link_to_the_bibliography():
    bib = "https://org.github.io/book/bibliography.html"
    assert reader.convert_markdown("{cite:t}`lecun1998gradient` showed", SITE, {}) == (
        f"[LeCun et al. (1998)]({bib}#cite-lecun1998gradient) showed"
    )
    assert reader.convert_markdown("known {cite:p}`hubel1962,lecun1998gradient`.", SITE, {}) == (
        f"known ([Hubel and Wiesel, 1962]({bib}#cite-hubel1962); "
        f"[LeCun et al., 1998]({bib}#cite-lecun1998gradient))."
    )


def test_figure_and_page_references_become_links():
    out = reader.convert_markdown("see {numref}`fig-a`, {numref}`panel %s <fig-a>`", SITE, {})
    url = "https://org.github.io/book/chapters/02-conv.html#fig-a"
    assert out == f"see [Fig. 2.3]({url}), [panel 2.3]({url})"
    assert reader.convert_markdown("{doc}`../assignments`", SITE, {}) == (
        "[Assignments](https://org.github.io/book/assignments.html)"
    )


def test_admonitions_become_blockquotes_with_their_title():
    text = (
        ":::{admonition} Learning objectives\n:class: tip\nYou can\n\n- count {glue:text}`n:d`\n:::"
    )
    assert reader.convert_markdown(text, SITE, glued(n="7")) == (
        "> **Learning objectives**\n>\n> You can\n>\n> - count 7"
    )
    assert reader.convert_markdown("```{note}\nMind the $x$.\n```", SITE, {}) == (
        "> **Note**\n>\n> Mind the $x$."
    )


def test_math_and_plain_code_blocks_are_kept():
    text = "$$\ny = {W}x\n$$\n\n```python\n{term}`not a role in code`\n```"
    assert reader.convert_markdown(text, SITE, {}) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("```{figure} a.png\nA\n```", "directive {figure}"),
        ("{eq}`e1`", "role {eq}"),
        ("{term}`stride`", "'stride' is not in the glossary"),
        ("{cite:t}`nobody2000`", "no reference 'nobody2000'"),
        ("{glue:text}`missing:.2f`", "no value glued under 'missing'"),
        ("{numref}`fig-zz`", "no figure named 'fig-zz'"),
        (":::{admonition} Open\nnever closed", "never closed"),
    ],
)
def test_what_it_cannot_convert_is_an_error_naming_the_place(text, message):
    with pytest.raises(reader.ConversionError, match="ch9, cell 4") as info:
        reader.convert_markdown(text, SITE, {}, where="ch9, cell 4")
    assert message in str(info.value)


def test_leftovers_are_found():
    assert reader.myst_leftovers("plain $x$ and `code`") == []
    assert reader.myst_leftovers("a {term}`x`") == ["{term}`"]
    assert reader.myst_leftovers("```python\n{term}`x`\n```\n{cite:t}`y`") == ["{cite:t}`"]
    assert len(reader.myst_leftovers(":::{note}\nx\n:::")) == 1


def chapter_pair():
    chapter = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "# T\n\n{glue:text}`n:d` and {numref}`fig-a`",
            },
            {
                "cell_type": "code",
                "metadata": {
                    "tags": ["remove-input"],
                    "mystnb": {"figure": {"name": "fig-a", "caption": "A {term}`kernel`."}},
                },
                "source": "plot()",
                "outputs": [],
                "execution_count": None,
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    executed = {
        "cells": [
            dict(chapter["cells"][0]),
            dict(
                chapter["cells"][1],
                execution_count=3,
                outputs=[
                    {
                        "output_type": "display_data",
                        "metadata": {"scrapbook": {"name": "n"}},
                        "data": {"application/papermill.record/text/plain": "5"},
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "iVBOR", "text/plain": "<Figure>"},
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                            "text/html": "<div>twin</div>",
                        },
                    },
                ],
            ),
        ]
    }
    return chapter, executed


def test_a_notebook_keeps_outputs_and_captions_its_figures():
    chapter, executed = chapter_pair()
    nb = reader.convert_notebook(chapter, executed, glued(n="5"), SITE, "chapters/02-conv")
    md = [c["source"] for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert (
        "chapters/02-conv.ipynb" in md[0]
        and "https://org.github.io/book/chapters/02-conv.html" in md[0]
    )
    assert (
        md[1] == "# T\n\n5 and [Fig. 2.3](https://org.github.io/book/chapters/02-conv.html#fig-a)"
    )
    assert md[2] == (
        '<a id="fig-a"></a>**Fig. 2.3.** A [kernel](https://org.github.io/book/glossary.html#term-kernel).'
    )
    code = [c for c in nb["cells"] if c["cell_type"] == "code"][0]
    assert code["execution_count"] == 3 and code["metadata"]["jupyter"]["source_hidden"] is True
    assert [sorted(o["data"]) for o in code["outputs"]] == [
        ["image/png", "text/plain"],
        ["text/html"],
    ]
    assert chapter["cells"][1]["outputs"] == []  # the chapter itself is not touched


def test_an_executed_notebook_of_another_version_is_refused():
    chapter, executed = chapter_pair()
    executed["cells"][1] = dict(executed["cells"][1], source="plot(2)")
    with pytest.raises(reader.ConversionError, match="rebuild the book"):
        reader.convert_notebook(chapter, executed, glued(n="5"), SITE, "chapters/02-conv")


def test_the_site_address_comes_from_the_repository():
    assert reader.site_url({"repository": {"url": "https://github.com/Cnn-Book/cnn-book"}}) == (
        "https://cnn-book.github.io/cnn-book/"
    )
    assert (
        reader.site_url({"html": {"baseurl": "https://example.org/b"}}) == "https://example.org/b/"
    )


def test_the_book_glossary_and_bibliography_are_read():
    site = reader.Site.from_book()
    assert site.terms["multilayer perceptron"] == "term-multilayer-perceptron"
    assert site.terms["dead relu"] == "term-dead-ReLU"  # as Sphinx writes the id
    assert site.references["lecun1998gradient"] == ("LeCun et al.", "1998")
    assert site.references["hubel1962receptive"] == ("Hubel and Wiesel", "1962")
    assert site.figures["fig-conv-sliding"] == ("chapters/02-convolution", "2.1")
    assert site.titles["assignments"].lower().startswith("assignment")
