"""Scratch* modules: same constructor, parameter names and initialisation as their nn twins, so
state dicts load across, and a whole network swapped layer by layer computes the same thing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnbook import torch_ref as R

PAIRS = [
    (nn.Conv2d, R.ScratchConv2d, (3, 5, 3), {"stride": 2, "padding": 1, "padding_mode": "reflect"}),
    (nn.Conv2d, R.ScratchConv2d, (2, 4, (2, 3)), {"bias": False, "dilation": 2}),
    (nn.Linear, R.ScratchLinear, (7, 4), {}),
    (nn.Linear, R.ScratchLinear, (7, 4), {"bias": False}),
    (nn.BatchNorm2d, R.ScratchBatchNorm2d, (6,), {}),
    (nn.BatchNorm2d, R.ScratchBatchNorm2d, (6,), {"affine": False, "momentum": None}),
    (nn.MaxPool2d, R.ScratchMaxPool2d, (3,), {"stride": 2, "padding": 1}),
    (nn.AvgPool2d, R.ScratchAvgPool2d, (2,), {}),
    (nn.ReLU, R.ScratchReLU, (), {}),
    (nn.Dropout, R.ScratchDropout, (0.3,), {}),
]


@pytest.mark.parametrize("torch_cls,scratch_cls,args,kwargs", PAIRS)
def test_same_parameters_buffers_and_initialisation(torch_cls, scratch_cls, args, kwargs):
    torch.manual_seed(0)
    theirs = torch_cls(*args, **kwargs)
    torch.manual_seed(0)
    ours = scratch_cls(*args, **kwargs)
    expected, got = theirs.state_dict(), ours.state_dict()
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert torch.equal(got[name], value), name  # same random draws in the same order
    # Both directions of load_state_dict.
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="replicate"),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1, padding=1, bias=False),
        nn.ReLU(),
        nn.AvgPool2d(3, stride=1, padding=1),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(6 * 4 * 4, 5),
    )


@pytest.mark.parametrize("training", [False, True])
def test_swapping_every_layer_gives_the_same_outputs_and_gradients(training, device):
    torch.manual_seed(1)
    theirs = _small_net().double().to(device).train(training)
    ours = R.to_scratch(theirs)
    names = {type(m).__name__ for m in ours.modules()}
    assert not names & {
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "MaxPool2d",
        "AvgPool2d",
        "Linear",
        "Dropout",
    }
    assert all(isinstance(m, nn.Conv2d) is False for m in ours.modules())
    for model in (theirs, ours):
        model[8].eval()  # dropout masks are random: compare the rest of the training behaviour
    x = torch.randn(4, 2, 8, 8, dtype=torch.float64, device=device)
    y = torch.tensor([0, 3, 4, 1], device=device)
    outputs = []
    for model in (theirs, ours):
        model.zero_grad()
        out = model(x)
        nn.functional.cross_entropy(out, y).backward()
        outputs.append(out)
    torch.testing.assert_close(outputs[1], outputs[0])
    for (name, p_theirs), (_, p_ours) in zip(
        theirs.named_parameters(), ours.named_parameters(), strict=True
    ):
        torch.testing.assert_close(p_ours.grad, p_theirs.grad, msg=lambda m, n=name: f"{n}: {m}")
    for (name, b_theirs), (_, b_ours) in zip(
        theirs.named_buffers(), ours.named_buffers(), strict=True
    ):
        torch.testing.assert_close(b_ours, b_theirs, msg=lambda m, n=name: f"{n}: {m}")


def test_to_scratch_leaves_the_original_alone():
    model = _small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scratch = R.to_scratch(model)
    assert isinstance(model[0], nn.Conv2d) and isinstance(scratch[0], R.ScratchConv2d)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])
    assert scratch[0].weight.data_ptr() != model[0].weight.data_ptr()


@pytest.mark.parametrize("kwargs", [{"momentum": None}, {"track_running_stats": False}, {}])
def test_batchnorm_module_over_several_steps(kwargs):
    torch.manual_seed(2)
    theirs = nn.BatchNorm2d(3, **kwargs).double()
    ours = R.ScratchBatchNorm2d(3, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())
    for step in range(3):
        x = torch.randn(5, 3, 4, 4, dtype=torch.float64) * (step + 1) + step
        torch.testing.assert_close(ours(x), theirs(x))
    for name, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value)
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_dropout_module_train_and_eval():
    layer = R.ScratchDropout(0.4)
    x = torch.ones(100, 100)
    assert torch.equal(layer.eval()(x), x)
    out = layer.train()(x)
    kept = out != 0
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.6))
    assert 0.3 < 1 - kept.float().mean().item() < 0.5


def test_unsupported_arguments_raise_value_error():
    with pytest.raises(ValueError, match="groups"):
        R.ScratchConv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="ceil_mode"):
        R.ScratchMaxPool2d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="padding_mode"):
        R.ScratchConv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="num_features"):
        R.ScratchBatchNorm2d(0)
