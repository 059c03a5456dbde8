"""Shared pieces of the torch_ref tests: the devices to run on, and one comparison helper.

``compare`` runs the same computation through cnnbook.torch_ref and through torch.nn.functional
on copies of the same inputs, and checks forward outputs and every input gradient (tinygrad's
habit: one helper, stated tolerances).
"""

from __future__ import annotations

import pytest
import torch

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here"),
        ],
    ),
]

TOLERANCES = {
    torch.float32: {"atol": 2e-5, "rtol": 2e-4},
    torch.float64: {"atol": 1e-10, "rtol": 1e-9},
}


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def _compare(ours, reference, inputs, grad_inputs=None):
    """Forward and backward of ``ours(*inputs)`` against ``reference(*inputs)``.

    Args:
        ours, reference: callables taking the same tensors.
        inputs: tensors; floating ones listed in ``grad_inputs`` (default: all floating ones)
            get gradients compared.
    """
    if grad_inputs is None:
        grad_inputs = [
            i for i, t in enumerate(inputs) if torch.is_tensor(t) and t.is_floating_point()
        ]

    def run(fn):
        copies = [t.detach().clone() if torch.is_tensor(t) else t for t in inputs]
        for i in grad_inputs:
            copies[i].requires_grad_(True)
        out = fn(*copies)
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(123),
                               dtype=out.dtype).to(out.device)  # fmt: skip
        grads = (
            torch.autograd.grad(out, [copies[i] for i in grad_inputs], upstream)
            if grad_inputs
            else []
        )
        return out.detach(), grads

    out, grads = run(ours)
    expected, expected_grads = run(reference)
    tol = TOLERANCES[expected.dtype] if expected.is_floating_point() else {"atol": 0, "rtol": 0}
    assert out.dtype == expected.dtype and out.device == expected.device
    torch.testing.assert_close(out, expected, **tol, msg=lambda m: f"forward: {m}")
    for i, (g, e) in zip(grad_inputs, zip(grads, expected_grads, strict=True), strict=True):
        torch.testing.assert_close(g, e, **tol, msg=lambda m, i=i: f"gradient of input {i}: {m}")


@pytest.fixture
def compare():
    return _compare
