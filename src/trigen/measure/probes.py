"""Probes of a network at one input: its FLOPs per forward pass, and the shared constants of
every probe (the diffusion timestep a denoiser is called at, the receptive-field batch)."""

from __future__ import annotations

import torch

from trigen.config import DIFFUSION_FAMILIES, FamilyName
from trigen.eval.cost import count_flops
from trigen.families.base import Family

PROBE_TIMESTEP = 500.0
"""The diffusion timestep of a probed denoiser call (mid-schedule): receptive fields are taken
there, and a call's cost is the same at every t."""
RF_BATCH = 8  # test images a receptive field is averaged over


def forward_flops(name: FamilyName, family: Family) -> int:
    """FLOPs of one training-shape forward pass on a single image, counted by torch."""
    net = family.net
    device = next(net.parameters()).device
    c, h, w = family.image_shape
    y = torch.zeros(1, dtype=torch.long, device=device)
    with torch.inference_mode():
        if name in DIFFUSION_FAMILIES:
            x = torch.zeros(1, c, h, w, device=device)
            t = torch.full((1,), PROBE_TIMESTEP, device=device)
            return count_flops(lambda: net(x, t, y))
        if name is FamilyName.AR:
            tokens = torch.zeros(1, c * h * w, dtype=torch.long, device=device)
            return count_flops(lambda: net(tokens[:, :-1], y))  # the last token is a target only
        if name is FamilyName.MASKGIT:
            tokens = torch.zeros(1, net.cfg.seq_len, dtype=torch.long, device=device)
            return count_flops(lambda: net(tokens, y))
        x = torch.zeros(1, c, h, w, device=device)
        return count_flops(lambda: net(x, y))
