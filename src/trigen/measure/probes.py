"""Probes of a network at one input: its FLOPs per forward pass, its receptive field, and the
shared constants of every probe (the diffusion timestep a denoiser is called at, the
receptive-field batch). The family says what to call (``forward_probe``,
``receptive_field_probe``); this module measures it."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from trigen.errors import ConfigError
from trigen.eval.cost import count_flops
from trigen.eval.receptive_field import ar_receptive_field, receptive_field
from trigen.families.base import Family
from trigen.families.capabilities import TokenGradientProbe
from trigen.families.diffusion import PROBE_TIMESTEP

__all__ = ["PROBE_TIMESTEP", "RF_BATCH", "forward_flops", "receptive_field_map"]

RF_BATCH = 8  # test images a receptive field is averaged over


def forward_flops(family: Family) -> int:
    """FLOPs of one training-shape forward pass on a single image, counted by torch."""
    with torch.inference_mode():
        probe = family.forward_probe()
        if probe is None:
            raise ConfigError(f"{type(family).__name__} offers no forward pass to count")
        return count_flops(probe)


def receptive_field_map(family: Family, images: Tensor, labels: Tensor) -> np.ndarray | None:
    """|∂ output(centre) / ∂ input| of ``family``'s network on ``images`` (B, C, H, W) with
    classes ``labels``, normalised to max 1; None for a family that offers no probe."""
    probe = family.receptive_field_probe(images, labels)
    if probe is None:
        return None
    if isinstance(probe, TokenGradientProbe):
        return ar_receptive_field(probe.net, probe.tokens, probe.labels)
    return receptive_field(probe.fn, probe.x)
