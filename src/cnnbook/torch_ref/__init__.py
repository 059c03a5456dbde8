"""The book's layers written from scratch in PyTorch (same maths as :mod:`cnnbook.numpy_ref`).

``functional`` holds the differentiable functions (conv2d by im2col, pooling, batch norm,
activations, dropout, softmax, cross-entropy); ``modules`` the ``Scratch*`` twins of the
``torch.nn`` layers and :func:`to_scratch`, which swaps them into any network.
"""

from cnnbook.torch_ref.functional import (
    avg_pool2d,
    batch_norm2d,
    conv2d,
    cross_entropy,
    dropout,
    global_avg_pool2d,
    leaky_relu,
    linear,
    log_softmax,
    max_pool2d,
    pad2d,
    relu,
    softmax,
)
from cnnbook.torch_ref.modules import (
    ScratchAvgPool2d,
    ScratchBatchNorm2d,
    ScratchConv2d,
    ScratchDropout,
    ScratchLinear,
    ScratchMaxPool2d,
    ScratchReLU,
    to_scratch,
)

__all__ = [
    "ScratchAvgPool2d",
    "ScratchBatchNorm2d",
    "ScratchConv2d",
    "ScratchDropout",
    "ScratchLinear",
    "ScratchMaxPool2d",
    "ScratchReLU",
    "avg_pool2d",
    "batch_norm2d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "global_avg_pool2d",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "pad2d",
    "relu",
    "softmax",
    "to_scratch",
]
