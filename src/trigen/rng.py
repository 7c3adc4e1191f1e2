"""Random draws that honour an explicit ``torch.Generator`` wherever it lives.

A generator can only fill tensors on its own device, so the draw happens there and moves to
the device of the tensor it is meant for.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
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


def seed_globals(seed: int, name: str) -> None:
    """Seed torch's, numpy's and Python's global generators from ``seed`` and the ``name`` of a
    piece of work, so that what the piece draws from them does not depend on what ran before
    it in the process (a comparison resumed after a crash skips the pieces already done)."""
    value = (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**32
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)
