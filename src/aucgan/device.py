"""Device names from configs and the command line (``auto``, ``cpu``, ``cuda``, ``cuda:1``) -> torch devices."""

from __future__ import annotations

import torch

from aucgan.errors import AucganError


def pick_device(name: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; asking for CUDA without it is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AucganError(f"device {name!r} asked for but CUDA is not available")
    return torch.device(name)
