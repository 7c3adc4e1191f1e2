"""Layers that read named conditions (:mod:`trigen.conditions`): vectors and maps into a network.

Each layer reads the null of its condition (a row of NaN) as that condition's own null: a learned
embedding for a vector, the zero map for a map. The ``zero_init`` layers start at exactly zero, so
adding their output to an existing stream (the timestep embedding, the image tokens, the encoder
features) leaves a fresh network what it was: ControlNet's zero convolutions, SD3 ControlNet's
zero-initialised patch embedding, diffusers' class projection added to the time embedding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from trigen.conditions import ConditionKind, ConditionSpec, finite_or, is_null


def specs_of(specs: Sequence[ConditionSpec], kind: ConditionKind) -> list[ConditionSpec]:
    """The conditions of one kind, in declaration order."""
    return [spec for spec in specs if spec.kind is kind]


def value_or_null(conds: Mapping[str, Tensor], spec: ConditionSpec, like: Tensor) -> Tensor:
    """``conds[spec.name]``, or its null for every row of ``like`` (B, C, H, W) when absent: a
    network called without a condition it knows runs unconditionally along it."""
    value = conds.get(spec.name)
    if value is not None:
        return value
    shape = (spec.size,) if spec.kind is ConditionKind.VECTOR else (spec.size, *like.shape[-2:])
    return torch.full((like.shape[0], *shape), math.nan, device=like.device)


class VectorEmbedder(nn.Module):
    """A vector condition (B, K) → (B, D): ``Linear → SiLU → Linear`` (diffusers' class
    projection); a null row → the learned ``null`` vector. With ``zero_init`` the last linear and
    the null start at zero: the output is 0 for every input until training moves it."""

    def __init__(self, size: int, hidden: int, *, zero_init: bool = True) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(size, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.null = nn.Parameter(torch.zeros(hidden))
        if zero_init:
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)
        else:
            nn.init.normal_(self.null, std=0.02)

    def forward(self, v: Tensor) -> Tensor:
        dtype = self.mlp[0].weight.dtype
        out = self.mlp(finite_or(v).to(dtype))  # (B, D)
        return torch.where(is_null(v)[:, None], self.null.to(out.dtype), out)


class VectorEmbedders(nn.Module):
    """Every vector condition of a model, each embedded on its own and summed: (B, D) or 0."""

    def __init__(self, specs: Sequence[ConditionSpec], hidden: int, *, zero_init: bool = True):
        super().__init__()
        self.specs = specs_of(specs, ConditionKind.VECTOR)
        self.embedders = nn.ModuleDict(
            {s.name: VectorEmbedder(s.size, hidden, zero_init=zero_init) for s in self.specs}
        )

    def __len__(self) -> int:
        return len(self.embedders)

    def forward(self, conds: Mapping[str, Tensor], like: Tensor) -> Tensor | float:
        """The sum of the vector embeddings (B, D) for the batch of ``like``; 0.0 for a model
        without vectors."""
        total: Tensor | float = 0.0
        for spec in self.specs:
            total = total + self.embedders[spec.name](value_or_null(conds, spec, like))
        return total

    def tokens(self, conds: Mapping[str, Tensor], like: Tensor) -> list[Tensor]:
        """One token (B, 1, D) per vector condition, in declaration order."""
        return [
            self.embedders[spec.name](value_or_null(conds, spec, like))[:, None]
            for spec in self.specs
        ]


def map_input(
    conds: Mapping[str, Tensor], specs: Sequence[ConditionSpec], like: Tensor
) -> Tensor | None:
    """Every map condition concatenated on channels (B, ΣC, H, W) in ``like``'s dtype, nulls as
    zero maps; None for a model without maps. Real maps are ±1, so the zero map is no real map."""
    maps = [
        finite_or(value_or_null(conds, s, like)).to(like.dtype)
        for s in specs_of(specs, ConditionKind.MAP)
    ]
    return torch.cat(maps, dim=1) if maps else None


def map_channels(specs: Sequence[ConditionSpec]) -> int:
    return sum(s.size for s in specs_of(specs, ConditionKind.MAP))


def zero_module(module: nn.Module) -> nn.Module:
    """``module`` with every parameter set to zero (ControlNet's zero convolution)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module
