"""Conditioning by scale and shift: adaLN(-Zero) for tokens, FiLM / AdaGN for feature maps."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x · (1 + scale) + shift`` for tokens ``x`` (B, T, D), per-example ``shift, scale`` (B, D).

    The ``1 +`` makes zero modulation the identity, which adaLN-Zero's zero init relies on.
    """
    # one fused multiply-add pass over (B, T, D) instead of a product and a sum
    return torch.addcmul(shift.unsqueeze(1), x, 1 + scale.unsqueeze(1))


def gate(x: Tensor, g: Tensor) -> Tensor:
    """Per-example, per-channel gate (adaLN-Zero's α): ``x · g``, x (B, T, D), g (B, D)."""
    return x * g.unsqueeze(1)


def gated_residual(x: Tensor, h: Tensor, g: Tensor) -> Tensor:
    """adaLN-Zero's gated residual ``x + h · g``: x, h (B, T, D), gate g (B, D), one fused pass."""
    return torch.addcmul(x, h, g.unsqueeze(1))


def film(h: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """FiLM on maps: ``h · (1 + scale) + shift`` for ``h`` (B, C, H, W), ``shift, scale`` (B, C).

    Works on any memory format (the (B, C, 1, 1) views broadcast without copies).
    """
    return torch.addcmul(shift[:, :, None, None], h, 1 + scale[:, :, None, None])


def adaln_modulation(dim: int, chunks: int, *, zero_init: bool = True) -> nn.Sequential:
    """``SiLU → Linear(dim, chunks · dim)``: ``chunks`` vectors (B, dim) from a condition (B, dim).

    Held as ``adaLN_modulation`` so its linear is ``adaLN_modulation.1`` (official DiT name). With
    ``zero_init`` every regressed vector starts at 0: unit scale, no shift, closed gates.
    """
    linear = nn.Linear(dim, chunks * dim)
    if zero_init:
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    return nn.Sequential(nn.SiLU(), linear)
