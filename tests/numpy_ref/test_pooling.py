"""Max, average and global average pooling against torch."""

import numpy as np
import pytest
import torch.nn.functional as F

from cnnbook import numpy_ref as nr
from cnnbook.testing import check_numeric_gradients, compare_with_torch

# (input shape, kernel_size, stride): square and rectangular, non-overlapping and overlapping,
# strides that do not divide the input, stride=None.
CASES = [
    ((2, 3, 8, 8), 2, None),
    ((1, 2, 7, 9), 2, None),
    ((2, 2, 9, 7), 3, 2),
    ((1, 3, 6, 6), 3, 1),
    ((2, 1, 7, 8), (2, 3), (1, 2)),
    ((3, 2, 5, 9), (3, 2), None),
    ((1, 1, 4, 4), 4, None),
    ((2, 2, 10, 6), 2, 3),
]

MAX = (nr.max_pool2d_forward, nr.max_pool2d_backward, F.max_pool2d)
AVG = (nr.avg_pool2d_forward, nr.avg_pool2d_backward, F.avg_pool2d)


def _distinct(rng, shape, dtype, gap=0.01):
    """Distinct values at least `gap` apart: no ties inside a window, even after a tiny step."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * gap - 1.0).astype(dtype)


@pytest.mark.parametrize(("forward", "backward", "torch_fn"), [MAX, AVG], ids=["max", "avg"])
@pytest.mark.parametrize(("shape", "kernel_size", "stride"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_matches_torch(forward, backward, torch_fn, shape, kernel_size, stride, dtype):
    rng = np.random.default_rng(len(CASES))
    x = rng.standard_normal(shape).astype(dtype)
    kwargs = {"kernel_size": kernel_size, "stride": stride}
    compare_with_torch(forward, backward, torch_fn, {"x": x}, kwargs=kwargs)


@pytest.mark.parametrize(("forward", "backward", "torch_fn"), [MAX, AVG], ids=["max", "avg"])
@pytest.mark.parametrize(("kernel_size", "stride"), [(2, None), (3, 2), ((2, 3), 1)])
def test_pooling_numeric_gradient(forward, backward, torch_fn, kernel_size, stride):
    x = _distinct(np.random.default_rng(0), (2, 2, 6, 7), np.float64)
    kwargs = {"kernel_size": kernel_size, "stride": stride}
    check_numeric_gradients(forward, backward, {"x": x}, kwargs=kwargs)


def test_max_pool_gradient_goes_to_the_argmax_only():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    out, cache = nr.max_pool2d_forward(x, 2)
    dx = nr.max_pool2d_backward(np.array([[[[7.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 7.0], [0.0, 0.0]]]])


@pytest.mark.parametrize(("kernel_size", "stride"), [(2, None), (3, 1), (3, 2)])
def test_max_pool_ties_follow_torch(kernel_size, stride):
    """Many ties (small integers): torch sends the gradient to the first maximum of a window."""
    x = np.random.default_rng(1).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
    compare_with_torch(
        nr.max_pool2d_forward,
        nr.max_pool2d_backward,
        F.max_pool2d,
        {"x": x},
        kwargs={"kernel_size": kernel_size, "stride": stride},
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_matches_torch(dtype):
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 6)).astype(dtype)

    def backward(dout, cache):
        return nr.global_avg_pool2d_backward(dout, x.shape)

    def reference(t):
        return F.adaptive_avg_pool2d(t, 1).flatten(1)

    compare_with_torch(nr.global_avg_pool2d, backward, reference, {"x": x})


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda x: nr.max_pool2d_forward(x[0], 2), "x"),
        (lambda x: nr.max_pool2d_forward(x.astype(int), 2), "x"),
        (lambda x: nr.max_pool2d_forward(x, 6), "kernel_size"),
        (lambda x: nr.avg_pool2d_forward(x, 0), "kernel_size"),
        (lambda x: nr.avg_pool2d_forward(x, 2, stride=0), "stride"),
        (lambda x: nr.max_pool2d_forward(x, 2, stride=(1, 2, 3)), "stride"),
        (lambda x: nr.global_avg_pool2d(x[0]), "x"),
        (lambda x: nr.global_avg_pool2d_backward(np.ones((2, 3)), (2, 3, 5)), "x_shape"),
        (lambda x: nr.global_avg_pool2d_backward(np.ones((2, 4)), (2, 3, 5, 5)), "dout"),
        (
            lambda x: nr.max_pool2d_backward(np.ones((2, 3, 3, 3)), nr.max_pool2d_forward(x, 2)[1]),
            "dout",
        ),
        (
            lambda x: nr.avg_pool2d_backward(np.ones((2, 3, 2, 2)), nr.max_pool2d_forward(x, 2)[1]),
            "cache",
        ),
    ],
)
def test_bad_input_raises(call, argument):
    x = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match=f"^{argument}:"):
        call(x)
