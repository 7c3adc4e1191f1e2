"""Random draws that honour an explicit ``torch.Generator`` wherever it lives.

A generator can only fill tensors on its own device, so the draw happens there and moves to
the device of the tensor it is meant for.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _draw_device(generator: torch.Generator | None, like: Tensor) -> torch.device:
    return generator.device if generator is not None else like.device


def randn_like(like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise with ``like``'s shape, dtype and device."""
    device = _draw_device(generator, like)
    noise = torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)
    return noise.to(like.device)


def rand(n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``n`` uniform draws in [0, 1), float32 on ``like``'s device."""
    return torch.rand(n, generator=generator, device=_draw_device(generator, like)).to(like.device)


def randint(high: int, n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``n`` uniform integers in [0, high), int64 on ``like``'s device."""
    device = _draw_device(generator, like)
    return torch.randint(high, (n,), generator=generator, device=device).to(like.device)
