"""A bidirectional transformer over image tokens for masked parallel decoding (MaskGIT,
Chang et al. 2022), class prefix.

The model reads ``[class(y), t_0, t_1, …, t_{L-1}]`` where each ``t_i`` is a data token
(0 … vocab_size − 1) or the [MASK] token (index ``vocab_size``), and returns logits over the
data vocabulary at every data position: ``logits[:, i]`` predicts ``x_i`` from every token it
is given, before and after it (no causal mask). Tokens are pixels' 256 intensity levels
(grayscale: one token per pixel; colour: R, G, B tokens per pixel, raster order) or the
indices of a VQ codebook, as for :mod:`trigen.models.ar_transformer`, whose blocks and
position options it shares. Named conditions (``cfg.conditions``) are prefix tokens before the
class token, as in the AR transformer (:mod:`trigen.models.prefix`): extra tokens every position
attends to (and they to every position), never rotated under RoPE, dropped before the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from trigen.batch import NO_CONDITIONS
from trigen.models.ar_transformer import ARTransformerConfig, token_model_config
from trigen.models.token_blocks import Positions, TokenTransformer


@dataclass(frozen=True, kw_only=True)
class MaskGITConfig(ARTransformerConfig):
    """Shape of a :class:`MaskGIT`: the fields, grid and token layout of
    :class:`~trigen.models.ar_transformer.ARTransformerConfig`, where ``vocab_size`` counts the
    data tokens only; the input side has one more row, the [MASK] token (:attr:`mask_token`)."""

    kind: ClassVar[str] = "MaskGIT"

    @property
    def mask_token(self) -> int:
        """Input index of the [MASK] token: one past the data vocabulary."""
        return self.vocab_size


MASKGIT_PRESETS: dict[str, dict[str, int]] = {
    "maskgit-tiny": {"width": 128, "depth": 4, "heads": 4},  # CPU demos and tests
    "maskgit-small": {"width": 256, "depth": 8, "heads": 8},
    "maskgit-medium": {"width": 512, "depth": 12, "heads": 8},
    "maskgit-large": {"width": 768, "depth": 24, "heads": 12},
}
"""Preset name → architecture fields (width, depth, heads); the sizes of the AR presets, so a
masked and a raster model of one size have the same parameters but the [MASK] row."""


def maskgit_config(preset: str, **kwargs) -> MaskGITConfig:
    """The :class:`MaskGITConfig` of ``preset`` (e.g. ``"maskgit-tiny"``); the arguments of
    :func:`~trigen.models.ar_transformer.token_model_config` (``image_shape`` for pixels, or
    ``grid`` and ``vocab_size`` for VQ codes)."""
    return token_model_config(MaskGITConfig, MASKGIT_PRESETS, preset, **kwargs)


class MaskGIT(TokenTransformer):
    """Bidirectional transformer: tokens (B, L) with [MASK]s and classes y (B,) → logits (B, L, V).

    Input vocabulary: ``tok_embedder`` (vocab_size + 1 rows, the last is [MASK]) and
    ``y_embedder`` (num_classes + 1 rows, the last is the null class) for the class prefix;
    the head predicts the vocab_size data tokens only. GPT-2 init as the AR transformer.
    """

    def __init__(self, cfg: MaskGITConfig) -> None:
        # the prefix and the class token have no place in the image: angle 0, no rotation
        unrotated = cfg.prefix_len + 1
        super().__init__(cfg, input_vocab=cfg.vocab_size + 1, unrotated=unrotated, causal=False)
        if cfg.positions is Positions.TWO_D:
            channel = torch.arange(cfg.seq_len) % cfg.grid[2]  # data position i is channel i % c
            self.register_buffer("channel_of", channel, persistent=False)

    def absolute_positions(self) -> Tensor | float:
        """Position vectors (L, D) of the data positions (0 when they are rotary only)."""
        if self.cfg.positions is Positions.TWO_D:
            return self.pos_fixed + self.channel_embed[self.channel_of]
        return self.pos_embed if self.cfg.positions.learned_table else 0.0

    def forward(
        self, tokens: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """Logits (B, L, vocab_size) at every data position.

        ``tokens`` (B, L) int64 in ``0 … vocab_size`` (``vocab_size`` = [MASK]), ``y`` (B,)
        int64 classes (null = num_classes), ``conds`` the named conditions (an absent one is its
        null).
        """
        if tokens.shape[1] != self.cfg.seq_len:
            raise ValueError(f"MaskGIT reads {self.cfg.seq_len} tokens, got {tokens.shape[1]}")
        x = self.tok_embedder(tokens) + self.absolute_positions()  # (B, L, D)
        label = self.y_embedder(y)[:, None]  # (B, 1, D)
        if self.cfg.class_bias:
            x = x + label
        x = torch.cat([label, x], dim=1)  # (B, L + 1, D): class prefix
        if self.prefix_embedder is not None:
            prefix = self.prefix_embedder(conds, x.shape[0]).to(x.dtype)  # (B, P, D)
            x = torch.cat([prefix, x], dim=1)  # (B, P + L + 1, D)
        rope = (self.rope_cos, self.rope_sin) if self.cfg.positions.rotary else None
        c = label[:, 0] if self.cfg.class_adaln else None  # (B, D): adaLN-Zero's condition
        for block in self.blocks:
            x = block(x, None, rope, c)  # (B, P + L + 1, D)
        # the prefix and the class position predict nothing
        return self.head(self.norm(x[:, self.cfg.prefix_len + 1 :]))  # (B, L, V)
