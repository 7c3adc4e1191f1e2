"""ADM-style U-Net denoiser (Ho et al. 2020; Dhariwal & Nichol 2021).

``UNet(cfg)(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``: ResBlocks with AdaGN scale-shift
conditioning on the summed timestep + label embedding, self-attention at chosen feature-map sizes,
strided-conv downsampling, nearest + conv upsampling and concatenated skip connections. Odd sizes
work (28 → 14 → 7 → 4 and back up to the skip's size).

Named conditions (:mod:`trigen.conditions`) enter ``forward(…, conds)``: a vector through a
zero-initialised projection added to the time embedding, so it reaches every ResBlock by AdaGN
(diffusers' ``class_embed_type="projection"``); a map either concatenated to the input (its input
weights zero at init) or through a hint encoder whose zero convolutions add one feature map per
encoder level (ControlNet's zero convs, T2I-Adapter's per-scale features; trained jointly here); a
caption through cross-attention in every attention block and its pooled vector added to the time
embedding (Stable Diffusion; diffusers' ``addition_embed_type="text"``), both zero at init.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS
from trigen.conditions import ConditionKind
from trigen.models.unet_config import (  # re-exported: the config is part of this module's API
    UNET_PRESETS,
    UNetConfig,
    UNetMapInjection,
    level_sizes,
    unet_config,
)
from trigen.nn.attention import Attention, CrossAttention
from trigen.nn.conditioning import VectorEmbedders, map_channels, map_input, specs_of, zero_module
from trigen.nn.embeddings import LabelEmbedder, TimestepEmbedder
from trigen.nn.modulation import film
from trigen.text.conditions import TextConditions, text_specs
from trigen.text.encoder import TextStates

TIME_EMBED_MULT = 4
"""Width of the conditioning embedding in units of ``model_channels`` (ADM)."""


def group_norm(channels: int, max_groups: int) -> nn.GroupNorm:
    """GroupNorm with the most groups ≤ ``max_groups`` that divide ``channels``."""
    groups = next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """``x + F(x, emb)`` for x (B, C_in, H, W), emb (B, E) → (B, C_out, H, W).

    F = GroupNorm → SiLU → conv3×3 → AdaGN (GroupNorm then FiLM from emb) → SiLU → dropout →
    conv3×3 (zero-initialised, so the block starts as its skip path).
    """

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = group_norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * cout))
        self.norm2 = group_norm(cout, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        scale, shift = self.emb_proj(emb).chunk(2, dim=1)  # (B, C_out) each
        h = F.silu(film(self.norm2(h), shift, scale))
        h = self.conv2(self.dropout(h))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """``x + Attn(GroupNorm(x))`` over the H·W positions of x (B, C, H, W); output proj zeroed.

    With ``text_width`` it then cross-attends to a caption's states (Stable Diffusion's
    ``attn2``): ``x + CrossAttn(LayerNorm(x), text)``, its output projection zeroed too.
    """

    def __init__(self, channels: int, heads: int, groups: int, text_width: int = 0) -> None:
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.attn = Attention(channels, heads)  # qkv / proj Linears = 1×1 convs on tokens
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)
        self.text_attn = None
        if text_width:
            self.norm_text = nn.LayerNorm(channels)
            self.text_attn = zero_output(CrossAttention(channels, heads, context_dim=text_width))

    def forward(self, x: Tensor, text: TextStates | None = None) -> Tensor:
        H, W = x.shape[-2:]
        # (B, C, H·W) → (B, H·W, C): a free view for channels-last input
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        out = self.attn(tokens).transpose(1, 2).unflatten(2, (H, W))  # (B, C, H, W) view
        x = x + out
        if self.text_attn is None or text is None:
            return x
        tokens = x.flatten(2).transpose(1, 2)  # (B, H·W, C)
        read = self.text_attn(self.norm_text(tokens), text.hidden, text.mask)
        return x + read.transpose(1, 2).unflatten(2, (H, W))


def zero_output(attention: CrossAttention) -> CrossAttention:
    nn.init.zeros_(attention.proj.weight)
    nn.init.zeros_(attention.proj.bias)
    return attention


def attend(attn: nn.Module, h: Tensor, text: TextStates | None) -> Tensor:
    """``attn(h, text)`` for an attention block, ``h`` through an identity slot."""
    return attn(h, text) if isinstance(attn, AttentionBlock) else attn(h)


class Downsample(nn.Module):
    """Stride-2 3×3 conv: (B, C, H, W) → (B, C, ⌈H/2⌉, ⌈W/2⌉)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to ``size`` (twice the side, or an odd skip's side), 3×3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class HintEncoder(nn.Module):
    """A map (B, M, H, W) → one feature map per encoder level, each (B, C_i, S_i, S_i) with the
    channels and side of that level's input, through a zero 1×1 convolution (``zero``): it adds
    nothing until trained. Downsampling by stride-2 3×3 convs matches the U-Net's level sides."""

    def __init__(self, map_channels: int, channels: list[int]) -> None:
        super().__init__()
        first = channels[0]
        self.stem = nn.Sequential(
            nn.Conv2d(map_channels, first, 3, padding=1), nn.SiLU(),
            nn.Conv2d(first, first, 3, padding=1), nn.SiLU(),
        )  # fmt: skip
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.SiLU())
            for cin, cout in itertools.pairwise(channels)
        )
        self.zero = nn.ModuleList(zero_module(nn.Conv2d(c, c, 1)) for c in channels)

    def forward(self, m: Tensor) -> list[Tensor]:
        h = self.stem(m)
        features = [self.zero[0](h)]
        for down, zero in zip(self.down, self.zero[1:], strict=True):
            h = down(h)
            features.append(zero(h))
        return features


class Level(nn.Module):
    """One resolution of the encoder or decoder: ResBlocks, each followed by attention or not."""

    def __init__(self, res: list[ResBlock], attn: list[nn.Module], resample: nn.Module | None):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.attn = nn.ModuleList(attn)
        self.resample = resample


class UNet(nn.Module):
    """ADM-style U-Net: ``forward(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``.

    ``t`` are float timesteps on the DDPM index scale [0, 1000); ``y`` are int64 classes with
    the null class at index ``num_classes``.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (ResBlock, AttentionBlock)

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        mc, g, E = cfg.model_channels, cfg.num_groups, TIME_EMBED_MULT * cfg.model_channels
        self.t_embedder = TimestepEmbedder(E, freq_dim=mc)
        self.y_embedder = LabelEmbedder(cfg.num_classes, E)
        self.vector_embedders = None
        if specs_of(cfg.conditions, ConditionKind.VECTOR):  # added to the time embedding
            self.vector_embedders = VectorEmbedders(cfg.conditions, E, zero_init=True)
        maps = map_channels(cfg.conditions)
        concat = maps if cfg.map_injection is UNetMapInjection.CONCAT else 0
        self.conv_in = nn.Conv2d(cfg.in_channels + concat, mc, 3, padding=1)
        if concat:  # the map's input weights start at zero: a fresh network ignores it
            nn.init.zeros_(self.conv_in.weight[:, cfg.in_channels :])
        self.text = self.text_pooled = None
        if text_specs(cfg.conditions):  # captions: cross-attention + pooled into the embedding
            self.text = TextConditions(cfg.conditions, E)
            self.text_pooled = zero_module(nn.Linear(E, E))
        self.hint_encoder = None
        if maps and not concat:
            level_in = [mc] + [mc * m for m in cfg.channel_mult[:-1]]  # each level's input
            self.hint_encoder = HintEncoder(maps, level_in)

        text_width = E if text_specs(cfg.conditions) else 0

        def attn(ch: int, size: int) -> nn.Module:
            if size in cfg.attention_resolutions:
                return AttentionBlock(ch, cfg.heads_for(ch), g, text_width)
            return nn.Identity()

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, E, cfg.dropout, g)

        skip_ch, ch, sizes, last = [mc], mc, cfg.level_sizes, len(cfg.channel_mult) - 1
        self.down = nn.ModuleList()
        for i, mult in enumerate(cfg.channel_mult):
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(res(ch, mc * mult))
                ch = mc * mult
                attns.append(attn(ch, sizes[i]))
                skip_ch.append(ch)
            self.down.append(Level(blocks, attns, Downsample(ch) if i < last else None))
            if i < last:
                skip_ch.append(ch)

        self.mid_res1 = res(ch, ch)
        mid_heads = cfg.heads_for(ch)
        mid = AttentionBlock(ch, mid_heads, g, text_width) if cfg.mid_attention else nn.Identity()
        self.mid_attn = mid
        self.mid_res2 = res(ch, ch)

        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.channel_mult))):
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):  # one more: it takes the level's input skip
                blocks.append(res(ch + skip_ch.pop(), mc * mult))
                ch = mc * mult
                attns.append(attn(ch, sizes[i]))
            self.up.append(Level(blocks, attns, Upsample(ch) if i > 0 else None))

        self.norm_out = group_norm(ch, g)
        self.conv_out = nn.Conv2d(ch, cfg.net_out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # the network starts by predicting 0
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: Tensor, t: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """``conds``: the named conditions of ``cfg.conditions`` (an absent one is its null)."""
        emb = self.t_embedder(t) + self.y_embedder(y)  # (B, E)
        if self.vector_embedders is not None:
            emb = emb + self.vector_embedders(conds, x)
        text = None if self.text is None else self.text(conds, x.shape[0], x.device)
        if text is not None:  # the pooled caption joins the time embedding (zero at init)
            emb = emb + self.text_pooled(text.pooled)
        m = map_input(conds, self.cfg.conditions, x)  # (B, M, H, W) or None
        hints = self.hint_encoder(m) if self.hint_encoder is not None else None
        if m is not None and hints is None:
            x = torch.cat([x, m], dim=1)
        h = self.conv_in(x)  # (B, mc, H, W)
        if hints is not None:
            h = h + hints[0]
        skips = [h]
        for i, level in enumerate(self.down):
            for res, attn in zip(level.res, level.attn, strict=True):
                h = attend(attn, res(h, emb), text)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)  # (B, C, ⌈H/2⌉, ⌈W/2⌉)
                if hints is not None:
                    h = h + hints[i + 1]
                skips.append(h)
        h = self.mid_res2(attend(self.mid_attn, self.mid_res1(h, emb), text), emb)
        for level in self.up:
            for res, attn in zip(level.res, level.attn, strict=True):
                h = attend(attn, res(torch.cat([h, skips.pop()], dim=1), emb), text)
            if level.resample is not None:
                h = level.resample(h, skips[-1].shape[-2:])  # (B, C, 2H or odd skip size)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C_out, H, W)


__all__ = [
    "TIME_EMBED_MULT",
    "UNET_PRESETS",
    "AttentionBlock",
    "ResBlock",
    "UNet",
    "UNetConfig",
    "UNetMapInjection",
    "level_sizes",
    "unet_config",
]
