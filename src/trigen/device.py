"""Which device a run uses: the one place a device name becomes a ``torch.device``."""

from __future__ import annotations

import torch

from trigen.errors import ConfigError

AUTO = "auto"
"""CUDA when available, else CPU."""


def resolve_device(device: str | torch.device = AUTO) -> torch.device:
    """``device`` as a ``torch.device``: a device passes through, ``"auto"`` picks CUDA when
    available, else CPU; a name (``cpu``, ``cuda``, ``cuda:1``) is checked against the machine."""
    if isinstance(device, torch.device):
        return device
    if device == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available; use --device cpu"
        )
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda[:N]") from None
