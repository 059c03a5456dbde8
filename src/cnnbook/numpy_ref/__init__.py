"""Reference NumPy layers: the functions the assignments ask students to write.

Conventions (see ASSIGNMENTS.md): arrays are NCHW, convolution weights (C_out, C_in, kH, kW);
``stride``, ``padding`` and ``kernel_size`` take an int or an (h, w) pair; a forward returns
``(out, cache)`` and its backward takes ``(dout, cache)``; float32 stays float32 and float64 stays
float64; inputs are never modified; bad input raises ValueError naming the argument. Every
function matches ``torch.nn.functional`` on the same arguments (the tests check it).

Example:
    >>> import numpy as np
    >>> from cnnbook import numpy_ref as nr
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    >>> w = np.zeros((4, 3, 3, 3), np.float32)
    >>> out, cache = nr.conv2d_forward(x, w, np.zeros(4, np.float32), padding=1)
    >>> dx, dw, db = nr.conv2d_backward(np.ones_like(out), cache)
    >>> out.shape, dw.dtype
    ((2, 4, 8, 8), dtype('float32'))
"""

from .activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    tanh_backward,
    tanh_forward,
)
from .batchnorm import batchnorm2d_backward, batchnorm2d_forward
from .conv import conv2d_backward, conv2d_forward, conv2d_forward_naive
from .counting import conv2d_output_size, conv2d_params, dense_params, receptive_field
from .dropout import dropout_backward, dropout_forward
from .linear import flatten, flatten_backward, linear_backward, linear_forward
from .losses import softmax_cross_entropy
from .optim import sgd_momentum_step
from .padding import pad2d
from .pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    # 01 counting
    "dense_params",
    "conv2d_params",
    "conv2d_output_size",
    "receptive_field",
    # 02 convolution
    "pad2d",
    "conv2d_forward_naive",
    "conv2d_forward",
    "conv2d_backward",
    # 03 activations
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "softmax",
    # 04 pooling
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    # 05 batch norm
    "batchnorm2d_forward",
    "batchnorm2d_backward",
    # 06 training
    "softmax_cross_entropy",
    "sgd_momentum_step",
    # extra layers of the reference CNN
    "linear_forward",
    "linear_backward",
    "flatten",
    "flatten_backward",
    "dropout_forward",
    "dropout_backward",
]
