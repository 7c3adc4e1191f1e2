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
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS
from trigen.models.ar_transformer import ARTransformerConfig, token_model_config
from trigen.models.prefix import prefix_for
from trigen.models.token_blocks import LN_EPS, Block, Positions, gpt2_init
from trigen.nn.embeddings import LabelEmbedder, sincos_pos_embed_2d
from trigen.nn.rope import rope_2d_angles


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


class MaskGIT(nn.Module):
    """Bidirectional transformer: tokens (B, L) with [MASK]s and classes y (B,) → logits (B, L, V).

    Input vocabulary: ``tok_embedder`` (vocab_size + 1 rows, the last is [MASK]) and
    ``y_embedder`` (num_classes + 1 rows, the last is the null class) for the class prefix;
    the head predicts the vocab_size data tokens only. GPT-2 init as the AR transformer.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (Block,)

    def __init__(self, cfg: MaskGITConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embedder = nn.Embedding(cfg.vocab_size + 1, cfg.width)
        self.y_embedder = LabelEmbedder(cfg.num_classes, cfg.width)
        h, w, c = cfg.grid
        pixel = torch.arange(cfg.seq_len) // c  # data position i is channel i % c of pixel i // c
        if cfg.positions.learned_table:
            self.pos_embed = nn.Parameter(torch.zeros(cfg.seq_len, cfg.width))
        if cfg.positions.rotary:
            angles = rope_2d_angles(cfg.width // cfg.heads, pixel // w, pixel % w)  # (L, Dh/2)
            # the prefix and the class token have no place in the image: angle 0, no rotation
            unrotated = angles.new_zeros(cfg.prefix_len + 1, angles.shape[1])
            angles = torch.cat([unrotated, angles])  # (P + 1 + L, Dh/2)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        if cfg.positions is Positions.TWO_D:
            fixed = sincos_pos_embed_2d(cfg.width, h, w).repeat_interleave(c, dim=0)  # (L, D)
            channel = torch.arange(cfg.seq_len) % c
            self.register_buffer("pos_fixed", fixed, persistent=False)
            self.register_buffer("channel_of", channel, persistent=False)
            self.channel_embed = nn.Parameter(torch.zeros(c, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg, i, causal=False) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)
        self.prefix_embedder = prefix_for(cfg)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """GPT-2 initialisation, as the AR transformer's (:func:`gpt2_init`)."""
        gpt2_init(self)

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
