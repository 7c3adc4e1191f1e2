"""What the two token transformers (raster AR and MaskGIT) share: their position choices, the
pre-norm block, GPT-2's initialisation and the body built from them (:class:`TokenTransformer`)."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from trigen.models.prefix import prefix_for
from trigen.nn.attention import Attention
from trigen.nn.embeddings import LabelEmbedder, sincos_pos_embed_2d
from trigen.nn.kv_cache import KVCache
from trigen.nn.mlp import Mlp
from trigen.nn.modulation import adaln_modulation, gated_residual, modulate
from trigen.nn.rope import rope_2d_angles

if TYPE_CHECKING:
    from trigen.models.ar_transformer import ARTransformerConfig

INIT_STD = 0.02
"""Normal init std of every linear and embedding weight (GPT-2)."""

LN_EPS = 1e-5


class Positions(StrEnum):
    """How a stream position is told where its target token lies in the image."""

    LEARNED = "learned"  # one free vector per position (seq_len rows)
    TWO_D = "2d"  # fixed 2-D sin-cos of (row, column) + a learned vector per channel
    # 2-D rotary embedding of (row, column) in every attention layer, *plus* a learned vector per
    # position (LEARNED's table): relative offsets such as "one row up" are learned once for the
    # image, and the learned table still tells the first rows from the last
    ROPE = "rope"
    # 2-D rotary embedding alone, no absolute table (LlamaGen's choice)
    ROTARY = "rotary"

    @property
    def rotary(self) -> bool:
        """Whether the attention layers rotate queries and keys by (row, column)."""
        return self in (Positions.ROPE, Positions.ROTARY)

    @property
    def learned_table(self) -> bool:
        """Whether a learned vector per stream position is added to the input."""
        return self in (Positions.LEARNED, Positions.ROPE)


@torch.no_grad()
def gpt2_init(model: nn.Module) -> None:
    """GPT-2's initialisation of a token transformer with ``cfg``, ``blocks`` and its position
    tables: N(0, 0.02) linears, embeddings and learned positions, zero biases, residual
    projections scaled by 1/√(2·depth)."""
    cfg = model.cfg
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=INIT_STD)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=INIT_STD)
    residual_std = INIT_STD / math.sqrt(2 * cfg.depth)
    for block in model.blocks:
        nn.init.normal_(block.attn.proj.weight, std=residual_std)
        nn.init.normal_(block.mlp.fc2.weight, std=residual_std)
    if cfg.positions is Positions.TWO_D:
        nn.init.normal_(model.channel_embed, std=INIT_STD)
    if cfg.positions.learned_table:
        nn.init.normal_(model.pos_embed, std=INIT_STD)
    for block in model.blocks:  # adaLN-Zero: unit scale, no shift, closed gates
        if block.adaLN_modulation is not None:
            nn.init.zeros_(block.adaLN_modulation[1].weight)
            nn.init.zeros_(block.adaLN_modulation[1].bias)
    if getattr(model, "prefix_embedder", None) is not None:  # last: a class-only model's draws
        model.prefix_embedder.initialize_weights()  # are what they were before prefixes


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``; the attention is
    causal (the AR transformer) unless ``causal=False`` (a bidirectional masked-token model).

    With ``cfg.class_adaln`` the class embedding ``c`` (B, D) modulates both sub-layers as in
    DiT's adaLN-Zero: ``x + g₁ · attn(ln(x)·(1 + s₁) + b₁)``, then the same for the MLP, with
    (b, s, g) regressed from c and zero at init, so a fresh block is the identity.
    """

    def __init__(self, cfg: ARTransformerConfig, layer: int, *, causal: bool = True) -> None:
        super().__init__()
        self.layer = layer  # index of this block's slot in a KVCache
        self.causal = causal
        self.norm1 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.attn = Attention(cfg.width, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.mlp = Mlp(cfg.width, int(cfg.width * cfg.mlp_ratio))
        self.adaLN_modulation = adaln_modulation(cfg.width, 6) if cfg.class_adaln else None

    def forward(
        self,
        x: Tensor,
        cache: KVCache | None,
        rope: tuple[Tensor, Tensor] | None = None,
        c: Tensor | None = None,
    ) -> Tensor:
        """``x`` (B, T, D) → (B, T, D); ``c`` (B, D) is the class embedding (adaLN only)."""

        def attend(h: Tensor) -> Tensor:
            return self.attn(h, causal=self.causal, cache=cache, layer=self.layer, rope=rope)

        if self.adaLN_modulation is None:
            x = x + attend(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        if c is None:
            raise ValueError("a block with class_adaln needs the class embedding c")
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = gated_residual(x, attend(modulate(self.norm1(x), shift1, scale1)), gate1)
        return gated_residual(x, self.mlp(modulate(self.norm2(x), shift2, scale2)), gate2)


class TokenTransformer(nn.Module):
    """The body of both token transformers: the token and class embedders, the position table,
    fixed 2-D positions or rotary angles that ``cfg.positions`` asks for, ``cfg.depth`` blocks,
    the final norm, the untied head over ``cfg.vocab_size`` data tokens and the named
    conditions' prefix embedder, GPT-2 initialised (:func:`gpt2_init`).

    ``input_vocab``: rows of the token embedding (the AR transformer's ``vocab_size``; MaskGIT's
    one more, the [MASK] token). ``unrotated``: the stream positions before the first data
    position that have no place in the image (the prefix; MaskGIT's class token too): angle 0,
    no rotation. ``causal``: whether a position attends to the positions before it only.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (Block,)

    def __init__(
        self, cfg: ARTransformerConfig, *, input_vocab: int, unrotated: int, causal: bool
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embedder = nn.Embedding(input_vocab, cfg.width)
        self.y_embedder = LabelEmbedder(cfg.num_classes, cfg.width)
        if cfg.positions.learned_table:
            self.pos_embed = nn.Parameter(torch.zeros(cfg.seq_len, cfg.width))
        h, w, c = cfg.grid
        if cfg.positions.rotary:
            # data position i (the AR stream position that predicts x_i) is channel i % c of
            # pixel i // c: rotate by that pixel's (row, col)
            pixel = torch.arange(cfg.seq_len) // c
            angles = rope_2d_angles(cfg.width // cfg.heads, pixel // w, pixel % w)  # (L, Dh/2)
            angles = torch.cat([angles.new_zeros(unrotated, angles.shape[1]), angles])
            self.register_buffer("rope_cos", angles.cos(), persistent=False)  # (U + L, Dh/2)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        if cfg.positions is Positions.TWO_D:
            # the pixel of data position i is i // c: repeat each (row, col) c times
            fixed = sincos_pos_embed_2d(cfg.width, h, w).repeat_interleave(c, dim=0)
            self.register_buffer("pos_fixed", fixed, persistent=False)  # (L, D)
            self.channel_embed = nn.Parameter(torch.zeros(c, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg, i, causal=causal) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)
        self.prefix_embedder = prefix_for(cfg)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """GPT-2 initialisation (:func:`gpt2_init`)."""
        gpt2_init(self)
