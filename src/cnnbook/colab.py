"""What a chapter needs to run the same way in Colab, in Jupyter and in the book's build.

in_colab      True inside Google Colab
glue          myst-nb's ``glue`` where myst-nb is installed (the book build), else a no-op that
              still shows the value when asked: Colab has no myst-nb and needs none
install_line  the ``%pip`` line of a notebook's first cell for a repository address
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["in_colab", "glue", "install_line", "INSTALL_MARKER"]

# The text that identifies the install requirement in a notebook; scripts/sync_repo_url.py
# rewrites whatever follows it up to the closing quote.
INSTALL_MARKER = "cnnbook @ git+"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def install_line(repository_url: str) -> str:
    """The Colab install line for ``repository_url`` (lower bounds only: Colab's torch is kept).

    Example:
        >>> install_line("https://github.com/cnn-book/cnn-book")
        '%pip install -q "cnnbook @ git+https://github.com/cnn-book/cnn-book"'
    """
    if not isinstance(repository_url, str) or not repository_url.startswith("https://"):
        raise ValueError(f"repository_url: got {repository_url!r}, expected an https:// address")
    return f'%pip install -q "{INSTALL_MARKER}{repository_url.rstrip("/")}"'


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's ``{glue:text}`` roles.

    Args:
        name: the key the chapter's prose refers to.
        value: a number (formatted in the prose, e.g. ``{glue:text}`key:,d```) or a figure.
        display: also show the value in the notebook.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: got {name!r}, expected a Python identifier")
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        # NumPy 2 and torch scalars print as np.float64(...) / tensor(...): glue the plain number
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, a plain Jupyter: nothing to glue into
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
