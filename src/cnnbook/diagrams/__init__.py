"""Concept diagrams of the book, drawn by code so that they are reproducible and their numbers
computed (``_style`` holds the shared look).

- ``diagrams.conv``: chapter 2 (sliding kernel, padding and stride, channels, 1x1, im2col,
  backward pass, receptive field)
"""

from . import conv

__all__ = ["conv"]
