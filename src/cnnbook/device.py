"""Pick the compute device in one place: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import os

import torch

__all__ = ["get_device", "describe_device"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device.

    Args:
        prefer: force a device ("cpu", "cuda", "mps"). Defaults to the environment variable
            ``CNNBOOK_DEVICE`` when set, else the first available of CUDA, MPS, CPU.

    Raises:
        ValueError: if the requested device is unknown or not available here.
    """
    prefer = prefer if prefer is not None else os.environ.get("CNNBOOK_DEVICE") or None
    if prefer is not None:
        kind = prefer.split(":")[0]
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": _mps_available(),
        }
        if kind not in available:
            raise ValueError(f"prefer: got {prefer!r}, expected one of 'cpu', 'cuda', 'mps'")
        if not available[kind]:
            raise ValueError(
                f"prefer: {prefer!r} was requested but is not available on this machine"
            )
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line, human-readable description of ``device`` (default: :func:`get_device`)."""
    device = get_device() if device is None else torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
