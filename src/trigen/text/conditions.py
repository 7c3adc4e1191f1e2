"""A network's text conditions: one encoder per token condition, their states side by side.

Every network that reads text owns a :class:`TextConditions` (its encoders train with it; the
frozen WordLlama table is a non-persistent buffer, reloaded from the installed wheel). A caption
that is absent, or a row of PAD only, is that condition's null: its encoder's learned null
caption (:class:`~trigen.text.encoder.TextEncoder`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from trigen.conditions import PAD, ConditionKind, ConditionSpec
from trigen.text.encoder import TextStates, build_text_encoder


def text_specs(specs: Sequence[ConditionSpec]) -> list[ConditionSpec]:
    return [spec for spec in specs if spec.kind is ConditionKind.TOKENS]


def text_length(specs: Sequence[ConditionSpec]) -> int:
    """Positions the text states of ``specs`` take side by side (each its context length)."""
    return sum(spec.size for spec in text_specs(specs))


class TextConditions(nn.Module):
    """Token conditions (B, L_i) → one :class:`TextStates` of ``width``: the hidden states and
    masks of every caption concatenated along the sequence (ΣL_i), their pooled vectors summed."""

    def __init__(
        self,
        specs: Sequence[ConditionSpec],
        width: int,
        *,
        layers: int = 2,
        states: bool = True,
        pooled: bool = True,
    ) -> None:
        """``states``/``pooled``: whether the owner reads the hidden states, the pooled vector
        (the encoders keep only the learned nulls it reads: every parameter gets a gradient)."""
        super().__init__()
        self.specs = text_specs(specs)
        self.width = width
        self.encoders = nn.ModuleDict(
            {s.name: build_text_encoder(s, width, layers=layers) for s in self.specs}
        )
        for encoder in self.encoders.values():
            encoder.keep_nulls(states=states, pooled=pooled)

    def __len__(self) -> int:
        return len(self.specs)

    def forward(self, conds: Mapping[str, Tensor], batch: int, device) -> TextStates:
        states = []
        for spec in self.specs:
            ids = conds.get(spec.name)
            if ids is None:  # absent: the null caption
                ids = torch.full((batch, spec.size), PAD, dtype=torch.long, device=device)
            states.append(self.encoders[spec.name](ids))
        if len(states) == 1:
            return states[0]
        return TextStates(
            torch.cat([s.hidden for s in states], dim=1),
            torch.cat([s.mask for s in states], dim=1),
            torch.stack([s.pooled for s in states]).sum(dim=0),
        )
