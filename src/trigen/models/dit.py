"""DiT: a diffusion transformer over image patches (Peebles & Xie 2023), official parameter layout.

``DiT(cfg)(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``: patchify → ``depth`` transformer
blocks at one token count → unpatchify. The timestep and class enter by adaLN-Zero (default), plain
adaLN, in-context tokens or cross-attention (the paper's four variants). Named conditions
(:mod:`trigen.conditions`) enter ``forward(…, conds)``: a vector into adaLN beside t + y (zero-
initialised projection) or as one more token; a map by a zero-initialised patch embedding added to
the image tokens (SD3 ControlNet) or as its own patch tokens. Tokens join the image tokens in
self-attention (cross-attention variant: they join its context), so ``conditioning="in_context"``
with ``vector_injection="tokens"``, ``map_injection="tokens"`` and ``text_injection="tokens"`` is
one uniform mechanism: every condition, the timestep and a caption included, is a token. A caption
(a token condition, :mod:`trigen.text`) is read by cross-attention in every block (PixArt-α), as
tokens in the shared self-attention, by joint attention with its own weights plus the pooled
caption in adaLN (MM-DiT, SD3), or pooled into adaLN only.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS
from trigen.conditions import ConditionKind
from trigen.models.dit_config import (  # re-exported: the config is part of this module's API
    DIT_PRESETS,
    LABEL_INIT_STD,
    PATCH_SIZES,
    Conditioning,
    DiTConfig,
    MapInjection,
    TextInjection,
    VectorInjection,
    dit_config,
)
from trigen.nn.attention import Attention, CrossAttention
from trigen.nn.conditioning import VectorEmbedders, map_channels, map_input, specs_of, zero_module
from trigen.nn.embeddings import LabelEmbedder, TimestepEmbedder, sincos_pos_embed_2d
from trigen.nn.mlp import Mlp
from trigen.nn.modulation import adaln_modulation, gated_residual, modulate
from trigen.nn.rope import apply_rope, rope_2d_angles
from trigen.text.conditions import TextConditions
from trigen.text.encoder import TextStates

LN_EPS = 1e-6
"""LayerNorm epsilon of the official DiT."""


class PatchEmbed(nn.Module):
    """(B, C, H, W) → (B, T, D) tokens by a Conv2d with kernel = stride = patch (``proj``)."""

    def __init__(self, in_channels: int, hidden: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        # One copy here (none for channels-last input) keeps the residual stream contiguous:
        # a transposed stream would be copied again by every LayerNorm, forward and backward.
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()  # (B, T, D)


class CaptionStream(nn.Module):
    """MM-DiT's caption stream in one block (SD3, Esser et al. 2024): the caption tokens' own
    adaLN-Zero modulation, LayerNorms, ``qkv``, output ``proj`` and MLP; they meet the image
    tokens only inside the joint attention. The last block keeps only what feeds that attention
    (SD3's ``context_pre_only``): its caption outputs are never read."""

    def __init__(self, cfg: DiTConfig, *, last: bool) -> None:
        super().__init__()
        D = cfg.hidden
        self.last = last
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=LN_EPS)
        self.qkv = nn.Linear(D, 3 * D)
        self.adaLN_modulation = adaln_modulation(D, 2 if last else 6)
        if not last:
            self.proj = nn.Linear(D, D)
            self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=LN_EPS)
            self.mlp = Mlp(D, int(D * cfg.mlp_ratio))


class DiTBlock(nn.Module):
    """Pre-norm transformer block, (B, T, D) → (B, T, D), conditioned per ``conditioning``.

    adaLN(-Zero): ``adaLN_modulation`` regresses shift/scale (and gates) from c (B, D);
    LayerNorms have no affine. in_context: a plain block with affine LayerNorms (c unused).
    cross_attn: plus a cross-attention over the condition tokens c (B, 2, D).
    ``text_injection`` joint: the last ``caption_tokens`` of x are the caption's, updated by
    their own :class:`CaptionStream` (``last``: the network's final block).
    """

    def __init__(self, cfg: DiTConfig, *, last: bool = False) -> None:
        super().__init__()
        D, mode = cfg.hidden, cfg.conditioning
        self.mode = mode
        adaptive = mode in (Conditioning.ADALN_ZERO, Conditioning.ADALN)
        self.norm1 = nn.LayerNorm(D, elementwise_affine=not adaptive, eps=LN_EPS)
        self.attn = Attention(D, cfg.heads, qkv_bias=True)
        if mode is Conditioning.CROSS_ATTN:
            self.norm_cross = nn.LayerNorm(D, eps=LN_EPS)
            self.cross_attn = CrossAttention(D, cfg.heads)
        self.text_attn = None
        if cfg.has_text and cfg.text_injection is TextInjection.CROSS_ATTN:  # PixArt-α
            self.norm_text = nn.LayerNorm(D, eps=LN_EPS)
            self.text_attn = CrossAttention(D, cfg.heads)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=not adaptive, eps=LN_EPS)
        self.mlp = Mlp(D, int(D * cfg.mlp_ratio))
        if adaptive:
            self.adaLN_modulation = adaln_modulation(D, 6 if mode is Conditioning.ADALN_ZERO else 4)
        self.caption = None
        self.caption_tokens = 0
        if cfg.has_text and cfg.text_injection is TextInjection.JOINT:
            self.caption = CaptionStream(cfg, last=last)
            self.caption_tokens = cfg.text_tokens

    def forward(
        self,
        x: Tensor,
        c: Tensor | None,
        rope: tuple[Tensor, Tensor] | None = None,
        text: TextStates | None = None,
    ) -> Tensor:
        """``text``: the captions' states, read by cross-attention after self-attention (its
        mask also hides a caption's padding from the joint attention)."""
        if self.caption is not None:
            return self._joint(x, c, rope, text)
        if self.mode is Conditioning.ADALN_ZERO:
            mod = self.adaLN_modulation(c).chunk(6, dim=1)  # each (B, D)
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod
            x = gated_residual(
                x, self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope=rope), gate_msa
            )
            x = self._read_text(x, text)
            return gated_residual(
                x, self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp)), gate_mlp
            )
        if self.mode is Conditioning.ADALN:
            shift_msa, scale_msa, shift_mlp, scale_mlp = self.adaLN_modulation(c).chunk(4, dim=1)
            x = x + self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope=rope)
            x = self._read_text(x, text)
            return x + self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        x = x + self.attn(self.norm1(x), rope=rope)
        if self.mode is Conditioning.CROSS_ATTN:
            x = x + self.cross_attn(self.norm_cross(x), c)
        x = self._read_text(x, text)
        return x + self.mlp(self.norm2(x))

    def _joint(
        self, x: Tensor, c: Tensor, rope: tuple[Tensor, Tensor] | None, text: TextStates | None
    ) -> Tensor:
        """MM-DiT: image (and condition) tokens and caption tokens, each modulated and projected
        by their own weights, attend jointly over both; then each its own MLP."""
        cap_stream = self.caption
        assert cap_stream is not None
        L = self.caption_tokens
        image, cap = x[:, :-L], x[:, -L:]  # (B, T, D), (B, L, D)
        B, T, D = image.shape
        shift, scale, gate, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        mod = cap_stream.adaLN_modulation(c).chunk(2 if cap_stream.last else 6, dim=1)
        qkv = torch.cat(
            [
                self.attn.qkv(modulate(self.norm1(image), shift, scale)),
                cap_stream.qkv(modulate(cap_stream.norm1(cap), mod[0], mod[1])),
            ],
            dim=1,
        )  # (B, T + L, 3D)
        heads = self.attn.num_heads
        q, k, v = qkv.view(B, T + L, 3, heads, D // heads).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:  # the caption's angles are zero: it is not rotated
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        mask = None
        if text is not None:  # every image token, and the caption's real positions
            seen = torch.cat([text.mask.new_ones(B, T), text.mask], dim=1)  # (B, T + L)
            mask = seen[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(B, T + L, D)
        image = gated_residual(image, self.attn.proj(out[:, :T]), gate)
        image = gated_residual(image, self.mlp(modulate(self.norm2(image), shift2, scale2)), gate2)
        if cap_stream.last:  # nothing reads the caption after the final block
            return torch.cat([image, cap], dim=1)
        cap = gated_residual(cap, cap_stream.proj(out[:, T:]), mod[2])
        cap_in = modulate(cap_stream.norm2(cap), mod[3], mod[4])
        cap = gated_residual(cap, cap_stream.mlp(cap_in), mod[5])
        return torch.cat([image, cap], dim=1)

    def _read_text(self, x: Tensor, text: TextStates | None) -> Tensor:
        if self.text_attn is None or text is None:
            return x
        return x + self.text_attn(self.norm_text(x), text.hidden, text.mask)


class FinalLayer(nn.Module):
    """LayerNorm (adaptive for adaLN variants) → ``linear`` to p·p·C_out values per token."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        D = cfg.hidden
        self.adaptive = cfg.conditioning in (Conditioning.ADALN_ZERO, Conditioning.ADALN)
        self.norm_final = nn.LayerNorm(D, elementwise_affine=not self.adaptive, eps=LN_EPS)
        self.linear = nn.Linear(D, cfg.patch_size**2 * cfg.out_channels)
        if self.adaptive:
            self.adaLN_modulation = adaln_modulation(D, 2)

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        x = self.norm_final(x)
        if self.adaptive:
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
            x = modulate(x, shift, scale)
        return self.linear(x)  # (B, T, p·p·C_out)


class DiT(nn.Module):
    """Diffusion transformer: ``forward(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``.

    ``t`` are float timesteps on the DDPM index scale [0, 1000); ``y`` are int64 classes with
    the null class at index ``num_classes``. Parameter names follow the official DiT checkpoints.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (DiTBlock,)

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden
        self.x_embedder = PatchEmbed(cfg.in_channels, D, cfg.patch_size)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(cfg.num_classes, D)
        # fixed, but saved: official checkpoints carry `pos_embed`
        pos = sincos_pos_embed_2d(D, cfg.grid, cfg.grid)
        self.register_buffer("pos_embed", pos[None], persistent=True)  # (1, T, D)
        self.vector_embedders = None
        if specs_of(cfg.conditions, ConditionKind.VECTOR):  # added to c: zero at init
            zero = not cfg.vectors_as_tokens
            self.vector_embedders = VectorEmbedders(cfg.conditions, D, zero_init=zero)
        self.map_embedder = self.map_type = None
        if map_channels(cfg.conditions):
            self.map_embedder = PatchEmbed(map_channels(cfg.conditions), D, cfg.patch_size)
            if cfg.map_injection is MapInjection.TOKENS:  # tells map tokens from image tokens
                self.map_type = nn.Parameter(torch.zeros(1, 1, D))
        self.text = self.text_pooled = self.text_type = None
        if cfg.has_text:
            pooled = cfg.text_injection in (TextInjection.POOLED, TextInjection.JOINT)  # SD3 too
            states = cfg.text_injection is not TextInjection.POOLED
            self.text = TextConditions(cfg.conditions, D, states=states, pooled=pooled)
            if pooled:  # added to c: zero at init
                self.text_pooled = nn.Linear(D, D)
            if cfg.text_injection is TextInjection.TOKENS:  # tells caption tokens from the rest
                self.text_type = nn.Parameter(torch.zeros(1, 1, D))
        if cfg.rope:
            cell = torch.arange(cfg.grid**2)
            angles = rope_2d_angles(D // cfg.heads, cell // cfg.grid, cell % cfg.grid)
            parts = [angles]
            if cfg.conditioning is Conditioning.IN_CONTEXT:  # t and y tokens: not rotated
                parts.append(angles.new_zeros(2, angles.shape[1]))
            if cfg.conditioning is not Conditioning.CROSS_ATTN:
                vectors = len(specs_of(cfg.conditions, ConditionKind.VECTOR))
                parts.append(angles.new_zeros(vectors * cfg.vectors_as_tokens, angles.shape[1]))
                if self.map_type is not None:  # map tokens sit where their image tokens sit
                    parts.append(angles)
            parts.append(angles.new_zeros(cfg.text_tokens, angles.shape[1]))  # not rotated
            angles = torch.cat(parts)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)  # (T', Dh/2)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        last = cfg.depth - 1
        self.blocks = nn.ModuleList(DiTBlock(cfg, last=i == last) for i in range(cfg.depth))
        self.final_layer = FinalLayer(cfg)
        C = cfg.out_channels
        self.output_conv = nn.Conv2d(C, C, 3, padding=1) if cfg.output_conv else None
        self.initialize_weights()

    def zero_initialised(self) -> list[nn.Linear]:
        """The linears that start at zero: every adaLN regression (unit scale, no shift, closed
        gates — each block starts as the identity under adaLN-Zero) and the output layer."""
        layers = [*self.blocks, self.final_layer]
        adaln = [m.adaLN_modulation[1] for m in layers if hasattr(m, "adaLN_modulation")]
        vectors = []
        if self.vector_embedders is not None and not self.cfg.vectors_as_tokens:
            vectors = [e.mlp[2] for e in self.vector_embedders.embedders.values()]
        text = [b.text_attn.proj for b in self.blocks if b.text_attn is not None]
        text += [b.caption.adaLN_modulation[1] for b in self.blocks if b.caption is not None]
        if self.text_pooled is not None:
            text.append(self.text_pooled)
        return [*adaln, *vectors, *text, self.final_layer.linear]

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """The paper's init: Xavier linears, N(0, 0.02) embeddings, zeroed adaLN and output layer.

        The zeroed linears (:meth:`zero_initialised`) are never given a Xavier draw, so the result
        does not depend on the order in which this and ``adaln_modulation``'s init run.
        """
        zeroed = {id(m) for m in self.zero_initialised()}
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if id(m) in zeroed:
                    nn.init.zeros_(m.weight)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight  # like a Linear over the flattened patch
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=LABEL_INIT_STD)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=LABEL_INIT_STD)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=LABEL_INIT_STD)
        if self.output_conv is not None:  # a zero residual: the output starts as the paper's
            nn.init.zeros_(self.output_conv.weight)
            nn.init.zeros_(self.output_conv.bias)
        if self.map_embedder is not None:
            if self.map_type is None:  # added to the image tokens: zero, so the identity at init
                zero_module(self.map_embedder)
            else:
                w = self.map_embedder.proj.weight
                nn.init.xavier_uniform_(w.view(w.shape[0], -1))
                nn.init.zeros_(self.map_embedder.proj.bias)
                nn.init.normal_(self.map_type, std=LABEL_INIT_STD)
        if self.text_type is not None:
            nn.init.normal_(self.text_type, std=LABEL_INIT_STD)

    def forward(
        self, x: Tensor, t: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """``conds``: the named conditions of ``cfg.conditions`` (an absent one is its null)."""
        image = x
        x = self.x_embedder(x) + self.pos_embed  # (B, T, D)
        num_tokens = x.shape[1]
        t_emb, y_emb = self.t_embedder(t), self.y_embedder(y)  # (B, D) each
        x, extra, vector = self._conditioned(x, image, conds)
        text = None if self.text is None else self.text(conds, x.shape[0], x.device)
        c: Tensor | None
        match self.cfg.conditioning:
            case Conditioning.IN_CONTEXT:  # (B, T + 2 + extra, D)
                x = torch.cat([x, t_emb[:, None], y_emb[:, None], *extra], dim=1)
                c = None
            case Conditioning.CROSS_ATTN:
                c = torch.cat([t_emb[:, None], y_emb[:, None], *extra], dim=1)  # context tokens
            case _:
                x = torch.cat([x, *extra], dim=1) if extra else x
                c = t_emb + y_emb + vector  # (B, D)
        if self.text_pooled is not None:
            c = c + self.text_pooled(text.pooled)
        if self.text_type is not None:  # joint attention over image and caption tokens
            x = torch.cat([x, text.hidden + self.text_type], dim=1)
        elif self.cfg.text_tokens:  # MM-DiT: the caption's own stream tells it apart
            x = torch.cat([x, text.hidden], dim=1)
        rope = (self.rope_cos, self.rope_sin) if self.cfg.rope else None
        for block in self.blocks:
            x = block(x, c, rope, text)
        x = self.final_layer(x[:, :num_tokens], c)  # (B, T, p·p·C_out), condition tokens dropped
        out = self.unpatchify(x)  # (B, C_out, H, W)
        if self.output_conv is not None:
            out = out + self.output_conv(out)
        return out

    def _conditioned(
        self, x: Tensor, image: Tensor, conds: Mapping[str, Tensor]
    ) -> tuple[Tensor, list[Tensor], Tensor | float]:
        """The image tokens ``x`` plus a patch-embedded map (``map_injection`` patch), the
        condition tokens [vectors (B, 1, D)…, map (B, T, D)] and the vector sum (B, D) for c
        (0.0 when vectors are tokens or absent)."""
        extra: list[Tensor] = []
        vector: Tensor | float = 0.0
        if self.vector_embedders is not None:
            if self.cfg.vectors_as_tokens:
                extra += self.vector_embedders.tokens(conds, image)
            else:
                vector = self.vector_embedders(conds, image)
        if self.map_embedder is not None:
            m = self.map_embedder(map_input(conds, self.cfg.conditions, image))  # (B, T, D)
            if self.map_type is None:
                x = x + m
            else:
                extra.append(m + self.pos_embed + self.map_type)
        return x, extra, vector

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, T, p·p·C_out) → (B, C_out, H, W); a token's values are ordered (p_row, p_col, c)."""
        B, p, c, g = x.shape[0], self.cfg.patch_size, self.cfg.out_channels, self.cfg.grid
        x = x.view(B, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)  # (B, c, g, p, g, p)
        return x.reshape(B, c, g * p, g * p)


__all__ = [
    "DIT_PRESETS",
    "LN_EPS",
    "PATCH_SIZES",
    "Conditioning",
    "DiT",
    "DiTBlock",
    "DiTConfig",
    "MapInjection",
    "TextInjection",
    "VectorInjection",
    "dit_config",
]
