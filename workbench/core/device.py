"""Choosing the compute device: ``auto`` means CUDA when available, else CPU.

This is the one place that decides devices; everything else receives a
``torch.device`` and computes on it.
"""

from __future__ import annotations

import torch

from workbench.core.errors import DeviceError

__all__ = ["DEVICE_CHOICES", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a usable ``torch.device``.

    Raises:
        DeviceError: if the name is unknown or CUDA was asked for but is not available.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} was requested but CUDA is not available on this machine "
                "(torch.cuda.is_available() is false); use --device cpu or --device auto"
            )
        return torch.device(name)
    raise DeviceError(f"device {name!r} is not allowed: use one of auto, cpu, cuda (or cuda:N)")
