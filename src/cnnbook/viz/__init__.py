"""Plots of the book.

    viz.figures   explanatory figures of the chapters (kernels, sliding windows, activations)
    viz.training  diagnostics of a trained network (curves, confusion matrix, filters, feature maps)
"""
