"""Exponential moving average of weights, its half-life counted in images (Karras et al. 2022)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay(batch_images: int, halflife_images: float) -> float:
    """Per-step decay β such that a weight's contribution halves every ``halflife_images``."""
    return 0.5 ** (batch_images / halflife_images)


class EMA:
    """A frozen copy of ``net`` following the live weights: w_ema ← β·w_ema + (1−β)·w."""

    def __init__(self, net: nn.Module, halflife_images: float) -> None:
        self.halflife_images = halflife_images
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, batch_images: int) -> None:
        beta = ema_decay(batch_images, self.halflife_images)
        ema_params = list(self.net.parameters())
        live_params = list(net.parameters())
        torch._foreach_lerp_(ema_params, live_params, 1.0 - beta)
        for ema_buf, buf in zip(self.net.buffers(), net.buffers(), strict=True):
            ema_buf.copy_(buf)
