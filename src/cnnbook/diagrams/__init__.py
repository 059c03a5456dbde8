"""Concept diagrams of the book, drawn by code so that they are reproducible and their numbers
computed (``_style`` holds the shared look).

- ``diagrams.conv``: chapter 2 (sliding kernel, padding and stride, channels, 1x1, im2col,
  backward pass, receptive field)
- ``diagrams.pooling``: chapter 4 (max and average pooling, forward and backward)
- ``diagrams.normalization``: chapter 5 (batch norm's axes, train vs eval)
"""

from . import conv, normalization, pooling

__all__ = ["conv", "pooling", "normalization"]
