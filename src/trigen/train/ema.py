"""Exponential moving average of weights, its half-life counted in images (Karras et al. 2022).

The half-life ramps up with training: it is at most ``rampup_ratio`` × the images seen so far
(EDM's ``ema_rampup_ratio``), so a short run never averages in its first, untrained weights and
a run stopped by a wall-clock budget gets an average that fits its length.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

DEFAULT_RAMPUP_RATIO = 0.05


def ema_decay(
    batch_images: int,
    halflife_images: float,
    images_seen: int | None = None,
    rampup_ratio: float | None = DEFAULT_RAMPUP_RATIO,
) -> float:
    """Per-step decay β such that a weight's contribution halves every ``halflife_images``.

    With ``images_seen`` (after this step) and ``rampup_ratio`` the half-life is capped at
    ``rampup_ratio · images_seen``.
    """
    if images_seen is not None and rampup_ratio is not None:
        halflife_images = min(halflife_images, rampup_ratio * images_seen)
    return 0.5 ** (batch_images / max(halflife_images, 1e-8))


class EMA:
    """A frozen copy of ``net`` following the live weights: w_ema ← β·w_ema + (1−β)·w."""

    def __init__(
        self,
        net: nn.Module,
        halflife_images: float,
        rampup_ratio: float | None = DEFAULT_RAMPUP_RATIO,
    ) -> None:
        self.halflife_images = halflife_images
        self.rampup_ratio = rampup_ratio
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, batch_images: int, images_seen: int | None = None) -> None:
        """One step of averaging; ``images_seen`` (including this batch) enables the ramp-up."""
        beta = ema_decay(batch_images, self.halflife_images, images_seen, self.rampup_ratio)
        ema_params = list(self.net.parameters())
        live_params = list(net.parameters())
        torch._foreach_lerp_(ema_params, live_params, 1.0 - beta)
        for ema_buf, buf in zip(self.net.buffers(), net.buffers(), strict=True):
            ema_buf.copy_(buf)
