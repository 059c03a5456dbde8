"""cnnbook.device: CUDA, then MPS, then CPU, with a clear error for an unavailable request."""

import pytest
import torch

from cnnbook import device


def test_picks_cuda_when_present_else_cpu_here():
    picked = device.get_device()
    if torch.cuda.is_available():
        assert picked.type == "cuda"
    elif device._mps_available():
        assert picked.type == "mps"
    else:
        assert picked == torch.device("cpu")


def test_describe_names_the_device_and_threads_on_cpu():
    threads = torch.get_num_threads()
    try:
        for n, expected in ((1, "cpu (1 thread)"), (2, "cpu (2 threads)")):
            torch.set_num_threads(n)
            assert device.describe_device(torch.device("cpu")) == expected
    finally:
        torch.set_num_threads(threads)


def test_prefer_and_environment_variable_force_the_cpu(monkeypatch):
    assert device.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("CNNBOOK_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match=r"prefer: got 'tpu', expected one of"):
        device.get_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_requesting_missing_cuda_says_so():
    with pytest.raises(ValueError, match="'cuda' was requested but is not available"):
        device.get_device("cuda")
