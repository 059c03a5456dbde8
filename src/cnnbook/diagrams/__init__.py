"""Concept diagrams of the book, drawn by code so that they are reproducible and their numbers
computed (``_style`` holds the shared look).

- ``diagrams.sharing``: chapter 1 (a dense layer against a convolution's shared weights)
- ``diagrams.conv``: chapter 2 (sliding kernel, padding and stride, channels, 1x1, im2col,
  backward pass, receptive field)
- ``diagrams.activations``: chapter 3 (conv, ReLU, pooling; two linear convolutions are one)
- ``diagrams.pooling``: chapter 4 (max and average pooling, forward and backward)
- ``diagrams.normalization``: chapter 5 (batch norm's axes, train vs eval)
- ``diagrams.training``: chapter 6 (the reference network's shapes, the training loop, dropout)
- ``diagrams.transfer``: chapter 7 (feature extraction vs fine-tuning)
"""

from . import activations, conv, normalization, pooling, sharing, training, transfer

__all__ = ["sharing", "conv", "activations", "pooling", "normalization", "training", "transfer"]
