"""2-D rotary position embedding (RoPE, Su et al. 2021; axial 2-D as in LlamaGen).

Queries and keys are rotated pairwise by angles that grow linearly with a token's (row, column):
the first half of a head's frequency pairs turns with the row, the second half with the column.
A query–key dot product then depends on the *difference* of their positions only, so "the pixel
one row up" is the same pattern everywhere in the image — a causal pixel model needs it to draw
vertical strokes, and learns it in far fewer steps than from absolute position vectors.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROPE_BASE = 100.0
"""Frequency base θ_k = base^(-k/n). Image grids are short (≤ 64 per axis): with the language
models' 10,000 most pairs would turn by a negligible angle across the whole image."""


def rope_2d_angles(head_dim: int, rows: Tensor, cols: Tensor, base: float = ROPE_BASE) -> Tensor:
    """Rotation angles (L, head_dim / 2) of tokens at integer ``rows``/``cols`` (L,) each.

    ``head_dim`` must be a multiple of 4: head_dim / 4 frequency pairs per axis.
    """
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs a head width divisible by 4, got {head_dim}")
    n = head_dim // 4
    freqs = base ** (-torch.arange(n, dtype=torch.float64) / n)  # (n,) radians per pixel
    angles = torch.cat([rows[:, None] * freqs, cols[:, None] * freqs], dim=1)  # (L, 2n)
    return angles.float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the (even, odd) channel pairs of ``x`` (..., T, Dh) by angles with ``cos``/``sin``
    of shape (T, Dh / 2)."""
    pairs = x.unflatten(-1, (-1, 2))  # (..., T, Dh/2, 2)
    x0, x1 = pairs.unbind(-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)
