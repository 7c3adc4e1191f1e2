"""DiT: a diffusion transformer over image patches (Peebles & Xie 2023), official parameter layout.

``DiT(cfg)(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``: patchify → ``depth`` transformer
blocks at one token count → unpatchify. The timestep and class enter by adaLN-Zero (default), plain
adaLN, in-context tokens or cross-attention (the paper's four variants).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.errors import ConfigError
from trigen.models.presets import check_field_types, from_preset, preset_fields
from trigen.nn.attention import Attention
from trigen.nn.embeddings import LabelEmbedder, TimestepEmbedder, sincos_pos_embed_2d
from trigen.nn.mlp import Mlp
from trigen.nn.modulation import adaln_modulation, gated_residual, modulate
from trigen.nn.rope import rope_2d_angles

LN_EPS = 1e-6
"""LayerNorm epsilon of the official DiT."""

PATCH_SIZES = (2, 4, 8)
LABEL_INIT_STD = 0.02
"""Normal init std of the label table and timestep MLP (official DiT)."""


class Conditioning(StrEnum):
    """How t and y enter the blocks (DiT paper §3.2)."""

    ADALN_ZERO = "adaln_zero"  # regressed scale/shift + zero-initialised residual gates
    ADALN = "adaln"  # regressed scale/shift only
    IN_CONTEXT = "in_context"  # t and y appended as two extra tokens
    CROSS_ATTN = "cross_attn"  # blocks cross-attend to the two condition tokens


@dataclass(frozen=True, kw_only=True)
class DiTConfig:
    """Shape of a DiT. ``input_size`` is the (square) side in pixels or latent cells."""

    input_size: int
    in_channels: int
    patch_size: int
    hidden: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    num_classes: int
    learn_sigma: bool = False
    conditioning: Conditioning = Conditioning.ADALN_ZERO
    # 2-D rotary positions in every attention layer on top of the fixed sin-cos (not in the
    # paper; newer DiTs use them): neighbourhoods are learned once for the whole image
    rope: bool = False
    # a 3×3 convolution over the unpatchified output, added as a residual (U-ViT's output conv,
    # Bao et al. 2023): the only operator that sees across the seams between patches; zero at
    # init, so a fresh network is the paper's. It did not pay at 28 px: DiT-T/4 flow, 15 minutes
    # on 2 cores, FID@1k vs 10k 46.7 [45.2, 48.4] with it vs 44.4 [42.7, 46.3] without.
    output_conv: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "DiT")
        if self.patch_size not in PATCH_SIZES:
            raise ConfigError(f"DiT patch_size must be one of {PATCH_SIZES}, got {self.patch_size}")
        if self.input_size <= 0 or self.input_size % self.patch_size:
            raise ConfigError(
                f"DiT input_size {self.input_size} is not divisible by patch_size "
                f"{self.patch_size}; pick a patch size that divides it"
            )
        for name in ("in_channels", "hidden", "depth", "heads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"DiT {name} must be positive, got {getattr(self, name)}")
        if self.hidden % self.heads or self.hidden % 4:
            raise ConfigError(
                f"DiT hidden {self.hidden} must be divisible by heads {self.heads} and by 4"
            )
        if self.rope and (self.hidden // self.heads) % 4:
            raise ConfigError(
                f"DiT head width {self.hidden // self.heads} must be a multiple of 4 for rope"
            )
        if self.num_classes < 0 or self.mlp_ratio <= 0:
            raise ConfigError("DiT num_classes must be ≥ 0 and mlp_ratio > 0")

    @property
    def out_channels(self) -> int:
        """Output channels: ε (C), or ε and the σ interpolation (2C) with ``learn_sigma``."""
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def grid(self) -> int:
        """Tokens per side."""
        return self.input_size // self.patch_size


_SIZES = {  # name → (depth, hidden, heads)
    "T": (6, 128, 2),  # CPU-sized: trains on 28×28 MNIST on two cores
    "S": (12, 384, 6),
    "B": (12, 768, 12),
    "L": (24, 1024, 16),
    "XL": (28, 1152, 16),
}
DIT_PRESETS: dict[str, dict[str, int]] = {
    f"DiT-{name}/{p}": {"depth": d, "hidden": w, "heads": h, "patch_size": p}
    for name, (d, w, h) in _SIZES.items()
    for p in PATCH_SIZES
}
"""Preset name → architecture fields; "DiT-T/…" are small enough to train on CPU."""


def dit_config(
    preset: str, *, input_size: int, in_channels: int, num_classes: int, **overrides
) -> DiTConfig:
    """The :class:`DiTConfig` of preset ``preset`` (e.g. ``"DiT-XL/2"``) for the given data shape.

    ``overrides`` replace any other field (``learn_sigma=True``, ``conditioning="in_context"``, …).
    """
    data = dict(input_size=input_size, in_channels=in_channels, num_classes=num_classes)
    fields = preset_fields(DIT_PRESETS, preset, "DiT")
    return from_preset(DiTConfig, fields, data=data, overrides=overrides, what="DiT")


class PatchEmbed(nn.Module):
    """(B, C, H, W) → (B, T, D) tokens by a Conv2d with kernel = stride = patch (``proj``)."""

    def __init__(self, in_channels: int, hidden: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        # One copy here (none for channels-last input) keeps the residual stream contiguous:
        # a transposed stream would be copied again by every LayerNorm, forward and backward.
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()  # (B, T, D)


class CrossAttention(nn.Module):
    """Queries from tokens x (B, T, D), keys/values from a context (B, S, D); fused ``kv``, SDPA."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        B, T, D = x.shape
        S, H = context.shape[1], self.num_heads
        q = self.q(x).view(B, T, H, D // H).transpose(1, 2)  # (B, H, T, Dh)
        k, v = self.kv(context).view(B, S, 2, H, D // H).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, Dh)
        return self.proj(out.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class DiTBlock(nn.Module):
    """Pre-norm transformer block, (B, T, D) → (B, T, D), conditioned per ``conditioning``.

    adaLN(-Zero): ``adaLN_modulation`` regresses shift/scale (and gates) from c (B, D);
    LayerNorms have no affine. in_context: a plain block with affine LayerNorms (c unused).
    cross_attn: plus a cross-attention over the condition tokens c (B, 2, D).
    """

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        D, mode = cfg.hidden, cfg.conditioning
        self.mode = mode
        adaptive = mode in (Conditioning.ADALN_ZERO, Conditioning.ADALN)
        self.norm1 = nn.LayerNorm(D, elementwise_affine=not adaptive, eps=LN_EPS)
        self.attn = Attention(D, cfg.heads, qkv_bias=True)
        if mode is Conditioning.CROSS_ATTN:
            self.norm_cross = nn.LayerNorm(D, eps=LN_EPS)
            self.cross_attn = CrossAttention(D, cfg.heads)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=not adaptive, eps=LN_EPS)
        self.mlp = Mlp(D, int(D * cfg.mlp_ratio))
        if adaptive:
            self.adaLN_modulation = adaln_modulation(D, 6 if mode is Conditioning.ADALN_ZERO else 4)

    def forward(
        self, x: Tensor, c: Tensor | None, rope: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        if self.mode is Conditioning.ADALN_ZERO:
            mod = self.adaLN_modulation(c).chunk(6, dim=1)  # each (B, D)
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod
            x = gated_residual(
                x, self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope=rope), gate_msa
            )
            return gated_residual(
                x, self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp)), gate_mlp
            )
        if self.mode is Conditioning.ADALN:
            shift_msa, scale_msa, shift_mlp, scale_mlp = self.adaLN_modulation(c).chunk(4, dim=1)
            x = x + self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope=rope)
            return x + self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        x = x + self.attn(self.norm1(x), rope=rope)
        if self.mode is Conditioning.CROSS_ATTN:
            x = x + self.cross_attn(self.norm_cross(x), c)
        return x + self.mlp(self.norm2(x))


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
        if cfg.rope:
            cell = torch.arange(cfg.grid**2)
            angles = rope_2d_angles(D // cfg.heads, cell // cfg.grid, cell % cfg.grid)
            if cfg.conditioning is Conditioning.IN_CONTEXT:  # condition tokens: not rotated
                angles = torch.cat([angles, angles.new_zeros(2, angles.shape[1])])
            self.register_buffer("rope_cos", angles.cos(), persistent=False)  # (T', Dh/2)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_layer = FinalLayer(cfg)
        C = cfg.out_channels
        self.output_conv = nn.Conv2d(C, C, 3, padding=1) if cfg.output_conv else None
        self.initialize_weights()

    def zero_initialised(self) -> list[nn.Linear]:
        """The linears that start at zero: every adaLN regression (unit scale, no shift, closed
        gates — each block starts as the identity under adaLN-Zero) and the output layer."""
        layers = [*self.blocks, self.final_layer]
        adaln = [m.adaLN_modulation[1] for m in layers if hasattr(m, "adaLN_modulation")]
        return [*adaln, self.final_layer.linear]

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

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        x = self.x_embedder(x) + self.pos_embed  # (B, T, D)
        num_tokens = x.shape[1]
        t_emb, y_emb = self.t_embedder(t), self.y_embedder(y)  # (B, D) each
        c: Tensor | None
        match self.cfg.conditioning:
            case Conditioning.IN_CONTEXT:
                x = torch.cat([x, t_emb[:, None], y_emb[:, None]], dim=1)  # (B, T + 2, D)
                c = None
            case Conditioning.CROSS_ATTN:
                c = torch.stack([t_emb, y_emb], dim=1)  # (B, 2, D) condition tokens
            case _:
                c = t_emb + y_emb  # (B, D)
        rope = (self.rope_cos, self.rope_sin) if self.cfg.rope else None
        for block in self.blocks:
            x = block(x, c, rope)
        x = self.final_layer(x[:, :num_tokens], c)  # (B, T, p·p·C_out), condition tokens dropped
        out = self.unpatchify(x)  # (B, C_out, H, W)
        if self.output_conv is not None:
            out = out + self.output_conv(out)
        return out

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, T, p·p·C_out) → (B, C_out, H, W); a token's values are ordered (p_row, p_col, c)."""
        B, p, c, g = x.shape[0], self.cfg.patch_size, self.cfg.out_channels, self.cfg.grid
        x = x.view(B, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)  # (B, c, g, p, g, p)
        return x.reshape(B, c, g * p, g * p)
