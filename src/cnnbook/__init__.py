"""cnnbook: the helper package of the open CNN book.

One import serves every chapter and assignment::

    import cnnbook
    from cnnbook import numpy_ref, torch_ref, device

Modules (one idea each):
    numpy_ref   reference NumPy layers as forward/backward pairs (what students implement)
    torch_ref   the same maths written from scratch in PyTorch, differentiable, any device
    device      picks CUDA, then Apple MPS, then CPU, and says which
    testing     numeric gradients, relative error, comparisons against torch.nn.functional
    data        offline datasets made by the project, real datasets downloaded with checksums
    models      the book's networks (reference CNN, LeNet-5, ...)
    training    fit / evaluate with history, early stopping and schedules
    numpy_trainer  a small trainer built on numpy_ref layers
    transfer    freeze / replace_head / param_groups and the shipped pretrained network
    viz         plots; widgets: interactive explorers (live ipywidgets + an HTML twin for the site)
    colab       what a notebook needs to run unchanged in Colab (glue without myst-nb)
    grading     the instructor's autograding pipeline
"""

__version__ = "0.1.0"
