"""Where PyTorch runs: ``--device`` checked and resolved in one place, with a one-line error on a bad name."""

from __future__ import annotations

import re

import torch

from .errors import SpcError

DEVICES = "auto, cpu, cuda, cuda:N or mps"
_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA where present, else the CPU; an unknown or absent device is a user error."""
    name = str(device).strip().lower()
    if not _NAME.match(name):
        raise SpcError(f"unknown device '{device}'; choose {DEVICES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        return _cuda(name)
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise SpcError("--device mps was asked for but no Apple GPU (MPS) is available")
    return torch.device(name)


def _cuda(name: str) -> torch.device:
    """A CUDA device that exists on this machine."""
    if not torch.cuda.is_available():
        raise SpcError(f"--device {name} was asked for but no CUDA GPU is visible")
    index = int(name.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise SpcError(f"--device {name}: this machine has {count} CUDA GPU(s) (cuda:0 to cuda:{count - 1})")
    return torch.device(name)
