"""Conditioning embeddings: sinusoidal timesteps, class labels with a null row, 2-D positions."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

DEFAULT_MAX_PERIOD = 10_000
"""Longest wavelength of the sinusoidal embeddings (Vaswani et al. 2017), in steps / positions."""

FREQUENCY_EMBEDDING_DIM = 256
"""Width of the raw sinusoidal timestep features fed to the timestep MLP (official DiT value)."""


def timestep_embedding(t: Tensor, dim: int, max_period: float = DEFAULT_MAX_PERIOD) -> Tensor:
    """Sinusoidal features (B, dim) of timesteps ``t`` (B,): any reals, e.g. fractional indices.

    Layout ``[cos(t·f_0..f_{h-1}), sin(t·f_0..f_{h-1})]`` with ``h = dim // 2`` and
    ``f_i = max_period^(-i/h)`` — the order of the official DiT / ADM code, so their
    checkpoints' timestep MLPs read the features they were trained on. An odd ``dim`` gets one
    zero column at the end. Computed in float32 whatever the dtype of ``t``.
    """
    half = dim // 2
    exponent = torch.arange(half, device=t.device, dtype=torch.float32) / half
    freqs = torch.exp(-math.log(max_period) * exponent)  # (h,)
    args = t.float()[:, None] * freqs[None]  # (B, h)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2h)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """Timesteps (B,) → vectors (B, hidden): sinusoidal features then ``Linear → SiLU → Linear``.

    The MLP is ``mlp`` with parameters ``mlp.0`` and ``mlp.2`` (official DiT names).
    """

    def __init__(self, hidden: int, freq_dim: int = FREQUENCY_EMBEDDING_DIM) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: Tensor) -> Tensor:
        freqs = timestep_embedding(t, self.freq_dim)  # (B, freq_dim), float32
        # match the weights' dtype so a model cast to bf16 (without autocast) still runs
        return self.mlp(freqs.to(self.mlp[0].weight.dtype))  # (B, hidden)


class LabelEmbedder(nn.Module):
    """Class indices (B,) → vectors (B, hidden) from ``embedding_table``, ``num_classes + 1`` rows.

    Row ``num_classes`` (the last) is the null class used for unconditional / guided sampling;
    ``num_classes == 0`` gives an unconditional model with only that row. Label dropout for
    classifier-free guidance is the family's job, never done here.
    """

    def __init__(self, num_classes: int, hidden: int) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be ≥ 0, got {num_classes}")
        self.num_classes = num_classes
        self.embedding_table = nn.Embedding(num_classes + 1, hidden)

    @property
    def null_class(self) -> int:
        """Index of the null (unconditional) row."""
        return self.num_classes

    def forward(self, y: Tensor) -> Tensor:
        return self.embedding_table(y)  # (B, hidden)


def sincos_embed_1d(dim: int, pos: Tensor) -> Tensor:
    """Fixed features (N, dim) of positions ``pos`` (N,): ``[sin(pos·ω), cos(pos·ω)]``.

    ω_i = 10⁴^(−2i/dim) for i < dim/2.

    Computed in float64 (as the MAE / DiT reference does in numpy) so the table is exact in float32.
    """
    if dim % 2:
        raise ValueError(f"sin-cos position width must be even, got {dim}")
    omega = torch.arange(dim // 2, device=pos.device, dtype=torch.float64) / (dim / 2)
    omega = DEFAULT_MAX_PERIOD ** (-omega)  # (dim/2,)
    args = pos.to(torch.float64)[:, None] * omega[None]  # (N, dim/2)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)  # (N, dim)


def sincos_pos_embed_2d(
    dim: int, grid_h: int, grid_w: int, *, device: torch.device | str | None = None
) -> Tensor:
    """Fixed 2-D sin-cos positions (grid_h · grid_w, dim) in float32, tokens in row-major order.

    As in MAE / DiT: the first ``dim/2`` columns encode the column (x) index, the last ``dim/2``
    the row (y) index, each with :func:`sincos_embed_1d`. ``dim`` must be a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos position width must be a multiple of 4, got {dim}")
    rows = torch.arange(grid_h, device=device).repeat_interleave(grid_w)  # (H·W,) y of each token
    cols = torch.arange(grid_w, device=device).repeat(grid_h)  # (H·W,) x of each token
    emb = torch.cat([sincos_embed_1d(dim // 2, cols), sincos_embed_1d(dim // 2, rows)], dim=1)
    return emb.float()  # (H·W, dim)
