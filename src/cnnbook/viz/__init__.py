"""Plots of the book.

- ``viz.figures``: explanatory figures of chapters 1-3 (kernels, sliding windows, activations)
- ``viz.pooling``: figures, measurements and the explorer of chapter 4
- ``viz.normalization``: figures, measurements and the explorer of chapter 5
- ``viz.regularization``: chapter 6's comparisons of training runs and its explorer
- ``viz.training``: diagnostics of a trained network (curves, confusion matrix, filters, maps)
- ``viz.transfer``: figures and the explorer of chapter 7
"""
