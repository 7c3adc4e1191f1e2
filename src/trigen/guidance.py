"""Classifier-free guidance: one function for diffusion denoisers and autoregressive logits."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

NO_GUIDANCE = 1.0
"""The guidance scale at which guided output equals the conditional output."""


def classifier_free_guidance(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """``uncond + scale · (cond − uncond)`` (Ho & Salimans 2022); 1 = cond., 0 = uncond.

    Applied to the *whole* output (every channel of a denoiser, every logit), never a slice of it.
    """
    if scale == NO_GUIDANCE:
        return cond
    return uncond + scale * (cond - uncond)


def guided(
    fn: Callable[[Tensor, Tensor], Tensor], labels: Tensor, null_label: int, scale: float
) -> Callable[[Tensor], Tensor]:
    """Wrap ``fn(x, labels) → out`` into ``g(x) → guided out``: one batched forward (cond ‖ uncond).

    With ``scale == NO_GUIDANCE`` no unconditional half is computed at all.
    """
    if scale == NO_GUIDANCE:
        return lambda x: fn(x, labels)
    both = torch.cat([labels, torch.full_like(labels, null_label)])

    def g(x: Tensor) -> Tensor:
        cond, uncond = fn(torch.cat([x, x]), both).chunk(2)
        return classifier_free_guidance(cond, uncond, scale)

    return g
