"""cnnbook.data.DeviceLoader against make_loader's DataLoader (the oracle for order and content)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnbook import data
from cnnbook.data import DeviceLoader, make_loader


def _data(n: int = 103) -> tuple[torch.Tensor, torch.Tensor]:
    # X[i] holds i in every pixel: a batch's rows say which examples it took.
    X = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 3).clone()
    y = torch.arange(n) % 7
    return X, y


def _epochs(loader, count: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    return [[(xb.clone(), yb.clone()) for xb, yb in loader] for _ in range(count)]


@pytest.mark.parametrize("batch_size", [1, 16, 103, 500])
@pytest.mark.parametrize("shuffle", [True, False])
def test_same_batches_in_the_same_order_as_make_loader(batch_size, shuffle):
    X, y = _data()
    ours = _epochs(DeviceLoader(X, y, batch_size, shuffle, seed=3, device="cpu"), 3)
    oracle = _epochs(make_loader(X, y, batch_size, shuffle, seed=3), 3)
    assert len(ours) == len(oracle)
    for epoch, expected in zip(ours, oracle, strict=True):
        assert len(epoch) == len(expected)
        for (xb, yb), (xe, ye) in zip(epoch, expected, strict=True):
            assert torch.equal(xb, xe) and torch.equal(yb, ye)


def test_every_epoch_is_a_permutation_with_the_stated_batch_sizes():
    X, y = _data()
    loader = DeviceLoader(X, y, batch_size=25, seed=0, device="cpu")
    assert len(loader) == 5  # 103 = 4 x 25 + 3
    orders = []
    for epoch in _epochs(loader, 3):
        assert [len(yb) for _, yb in epoch] == [25, 25, 25, 25, 3]
        index = torch.cat([xb[:, 0, 0, 0] for xb, _ in epoch]).long()
        assert sorted(index.tolist()) == list(range(103))  # every example once
        assert torch.equal(torch.cat([yb for _, yb in epoch]), y[index])  # pairs kept together
        orders.append(index.tolist())
    assert orders[0] != orders[1] != orders[2]  # reshuffled every epoch


def test_the_order_is_fixed_by_the_seed_alone():
    X, y = _data()
    first = _epochs(DeviceLoader(X, y, 10, seed=5, device="cpu"), 2)
    torch.manual_seed(123)  # the global generator plays no part
    again = _epochs(DeviceLoader(X, y, 10, seed=5, device="cpu"), 2)
    other = _epochs(DeviceLoader(X, y, 10, seed=6, device="cpu"), 2)

    def flat(epochs):
        return [yb.tolist() for epoch in epochs for _, yb in epoch]

    assert flat(first) == flat(again) and flat(first) != flat(other)


def test_no_shuffle_gives_views_of_the_data_in_order():
    X, y = _data(10)
    batches = list(DeviceLoader(X, y, 4, shuffle=False, device="cpu"))
    assert torch.equal(torch.cat([xb for xb, _ in batches]), X)
    assert batches[0][0].data_ptr() == X.data_ptr()  # a slice, no copy


def test_numpy_input_and_the_data_are_on_the_device():
    X, y = _data(12)
    loader = DeviceLoader(X.numpy(), y.numpy(), 5, device=torch.device("meta"))
    assert loader.device == torch.device("meta") and loader.X.device.type == "meta"
    for xb, yb in loader:  # batches are made on the device itself
        assert xb.device.type == "meta" and yb.device.type == "meta"
        assert xb.shape[1:] == (1, 2, 3)
    assert len(loader.dataset) == 12 and "N=12" in repr(loader)


def test_default_device_is_get_device(monkeypatch):
    import cnnbook.device

    monkeypatch.setattr(cnnbook.device, "get_device", lambda prefer=None: torch.device("meta"))
    X, y = _data(4)
    assert DeviceLoader(X, y).device.type == "meta"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_device_is_a_value_error():
    X, y = _data(6)
    with pytest.raises(ValueError, match="'cuda' was requested but is not available"):
        DeviceLoader(X, y, device="cuda")


def test_make_loader_with_a_device_gives_a_device_loader():
    X, y = _data(20)
    loader = data.make_loader(X, y, batch_size=8, seed=1, device="cpu")
    assert isinstance(loader, DeviceLoader) and loader.batch_size == 8 and loader.seed == 1
    assert isinstance(data.make_loader(X, y), torch.utils.data.DataLoader)  # unchanged default


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"shuffle": "yes"}, "shuffle: expected True or False"),
        ({"seed": -1}, "seed: expected a non-negative integer, got -1"),
        ({"device": 0}, "device: got 0"),
        ({"device": "tpu"}, "device: got 'tpu'"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    X, y = _data(6)
    with pytest.raises(ValueError, match=match):
        DeviceLoader(X, y, **{"device": "cpu", **kwargs})


def test_bad_data_is_rejected():
    X, y = _data(6)
    with pytest.raises(ValueError, match="y: expected 6 labels to match X, got 5"):
        DeviceLoader(X, y[:5], device="cpu")
    with pytest.raises(ValueError, match="X: got list"):
        DeviceLoader([1, 2], y, device="cpu")
    with pytest.raises(ValueError, match="0 examples"):
        DeviceLoader(X[:0], y[:0], device="cpu")
    with pytest.raises(ValueError, match="first axis"):
        DeviceLoader(torch.tensor(1.0), np.array(1), device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_same_batches_as_make_loader():
    X, y = _data()
    ours = _epochs(DeviceLoader(X, y, 16, seed=2, device="cuda"), 2)
    oracle = _epochs(make_loader(X, y, 16, seed=2), 2)
    for epoch, expected in zip(ours, oracle, strict=True):
        for (xb, yb), (xe, ye) in zip(epoch, expected, strict=True):
            assert xb.is_cuda and torch.equal(xb.cpu(), xe) and torch.equal(yb.cpu(), ye)
