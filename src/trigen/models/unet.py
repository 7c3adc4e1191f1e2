"""ADM-style U-Net denoiser (Ho et al. 2020; Dhariwal & Nichol 2021).

``UNet(cfg)(x (B, C, H, W), t (B,), y (B,)) → (B, C_out, H, W)``: ResBlocks with AdaGN scale-shift
conditioning on the summed timestep + label embedding, self-attention at chosen feature-map sizes,
strided-conv downsampling, nearest + conv upsampling and concatenated skip connections. Odd sizes
work (28 → 14 → 7 → 4 and back up to the skip's size).

Named conditions (:mod:`trigen.conditions`) enter ``forward(…, conds)``: a vector through a
zero-initialised projection added to the time embedding, so it reaches every ResBlock by AdaGN
(diffusers' ``class_embed_type="projection"``); a map either concatenated to the input (its input
weights zero at init) or through a hint encoder whose zero convolutions add one feature map per
encoder level (ControlNet's zero convs, T2I-Adapter's per-scale features; trained jointly here).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS
from trigen.conditions import ConditionKind, ConditionSpec
from trigen.errors import ConfigError
from trigen.models.presets import check_field_types, from_preset, preset_fields
from trigen.nn.attention import Attention
from trigen.nn.conditioning import VectorEmbedders, map_channels, map_input, specs_of, zero_module
from trigen.nn.embeddings import LabelEmbedder, TimestepEmbedder
from trigen.nn.modulation import film

TIME_EMBED_MULT = 4
"""Width of the conditioning embedding in units of ``model_channels`` (ADM)."""


class UNetMapInjection(StrEnum):
    """Where a map condition enters the U-Net."""

    HINT = "hint"  # a hint encoder, one zero-conv feature per encoder level (ControlNet-like)
    CONCAT = "concat"  # concatenated to the noisy input; its input weights start at zero


def level_sizes(input_size: int, levels: int) -> tuple[int, ...]:
    """Feature-map side at each of ``levels`` levels: a stride-2, pad-1 3×3 conv maps s to ⌈s/2⌉."""
    sizes = [input_size]
    for _ in range(levels - 1):
        sizes.append((sizes[-1] + 1) // 2)
    return tuple(sizes)


@dataclass(frozen=True, kw_only=True)
class UNetConfig:
    """Shape of a U-Net. ``attention_resolutions`` are feature-map sides (e.g. (14, 7) at 28×28)."""

    input_size: int
    in_channels: int
    out_channels: int | None = None  # None: same as in_channels (before doubling by learn_sigma)
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_resolutions: tuple[int, ...] = ()
    num_heads: int = 4
    head_channels: int | None = None  # if set, heads = channels // head_channels
    mid_attention: bool = True  # ADM always attends in the middle block
    dropout: float = 0.0
    num_classes: int
    learn_sigma: bool = False
    num_groups: int = 32  # GroupNorm groups, lowered per layer to a divisor of its channels
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    map_injection: UNetMapInjection = UNetMapInjection.HINT

    def __post_init__(self) -> None:
        check_field_types(self, "U-Net")
        if any(s.kind is ConditionKind.TOKENS for s in self.conditions):
            raise ConfigError("U-Net takes vector and map conditions; token conditions come later")
        for name in ("input_size", "in_channels", "model_channels", "num_res_blocks"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"U-Net {name} must be positive, got {getattr(self, name)}")
        if not self.channel_mult or min(self.channel_mult) <= 0:
            raise ConfigError(f"U-Net channel_mult must be positive ints, got {self.channel_mult}")
        sizes = self.level_sizes
        missing = sorted(set(self.attention_resolutions) - set(sizes))
        if missing:
            raise ConfigError(
                f"U-Net attention_resolutions {missing} are not feature-map sizes of this "
                f"network; its levels have sides {sizes}"
            )
        attended = [
            m
            for m, s in zip(self.channel_mult, sizes, strict=True)
            if s in self.attention_resolutions
        ]
        if self.mid_attention:
            attended.append(self.channel_mult[-1])
        for mult in attended:
            self.heads_for(self.model_channels * mult)  # raises on an impossible head split
        if not 0.0 <= self.dropout < 1.0 or self.num_classes < 0 or self.num_groups <= 0:
            raise ConfigError("U-Net needs 0 ≤ dropout < 1, num_classes ≥ 0 and num_groups > 0")

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Feature-map side at each level (:func:`level_sizes`)."""
        return level_sizes(self.input_size, len(self.channel_mult))

    @property
    def net_out_channels(self) -> int:
        """Output channels: ``out_channels`` (default ``in_channels``), doubled by learn_sigma."""
        base = self.out_channels or self.in_channels
        return 2 * base if self.learn_sigma else base

    def heads_for(self, channels: int) -> int:
        """Number of attention heads for a block of ``channels``."""
        if self.head_channels is not None:
            heads, rest = divmod(channels, self.head_channels)
        else:
            heads, rest = self.num_heads, channels % self.num_heads
        if heads <= 0 or rest:
            raise ConfigError(
                f"U-Net attention over {channels} channels cannot be split into heads of "
                f"num_heads={self.num_heads} / head_channels={self.head_channels}"
            )
        return heads


# name → architecture; "attention_levels" index channel_mult and become sizes for the input size
UNET_PRESETS: dict[str, dict] = {
    "unet-tiny": dict(  # CPU-sized (~1M): thin at full resolution, where the FLOPs are
        model_channels=16,
        channel_mult=(1, 2, 4),
        num_res_blocks=2,
        attention_levels=(2,),
        head_channels=32,
        mid_attention=False,  # the lowest level (7×7 at 28) already attends
        num_groups=8,
    ),
    "unet-small": dict(
        model_channels=64,
        channel_mult=(1, 2, 2),
        num_res_blocks=2,
        attention_levels=(1,),
        head_channels=32,
        dropout=0.1,
    ),
    "unet-cifar": dict(  # DDPM / ADM CIFAR-10 size (~36M at 32×32)
        model_channels=128,
        channel_mult=(1, 2, 2, 2),
        num_res_blocks=2,
        attention_levels=(1,),
        head_channels=64,
        dropout=0.1,
    ),
    "unet-imagenet64": dict(  # ADM ImageNet 64×64 widths (without its ResBlock up/down-sampling)
        model_channels=192,
        channel_mult=(1, 2, 3, 4),
        num_res_blocks=3,
        attention_levels=(1, 2, 3),
        head_channels=64,
        dropout=0.1,
    ),
}


def unet_config(
    preset: str, *, input_size: int, in_channels: int, num_classes: int, **overrides
) -> UNetConfig:
    """The :class:`UNetConfig` of preset ``preset`` (e.g. ``"unet-tiny"``) for the given data shape.

    ``overrides`` replace any field; ``attention_resolutions`` given here wins over the preset's
    attention levels (indices into ``channel_mult``, turned into sides for this input size).
    """
    fields = preset_fields(UNET_PRESETS, preset, "U-Net")
    levels = fields.pop("attention_levels")
    sizes = level_sizes(input_size, len(overrides.get("channel_mult", fields["channel_mult"])))
    fields["attention_resolutions"] = tuple(sizes[i] for i in levels if i < len(sizes))
    data = dict(input_size=input_size, in_channels=in_channels, num_classes=num_classes)
    return from_preset(UNetConfig, fields, data=data, overrides=overrides, what="U-Net")


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
    """``x + Attn(GroupNorm(x))`` over the H·W positions of x (B, C, H, W); output proj zeroed."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.attn = Attention(channels, heads)  # qkv / proj Linears = 1×1 convs on tokens
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        H, W = x.shape[-2:]
        # (B, C, H·W) → (B, H·W, C): a free view for channels-last input
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        out = self.attn(tokens).transpose(1, 2).unflatten(2, (H, W))  # (B, C, H, W) view
        return x + out


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
        self.hint_encoder = None
        if maps and not concat:
            level_in = [mc] + [mc * m for m in cfg.channel_mult[:-1]]  # each level's input
            self.hint_encoder = HintEncoder(maps, level_in)

        def attn(ch: int, size: int) -> nn.Module:
            if size in cfg.attention_resolutions:
                return AttentionBlock(ch, cfg.heads_for(ch), g)
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
        self.mid_attn = AttentionBlock(ch, mid_heads, g) if cfg.mid_attention else nn.Identity()
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
                h = attn(res(h, emb))
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)  # (B, C, ⌈H/2⌉, ⌈W/2⌉)
                if hints is not None:
                    h = h + hints[i + 1]
                skips.append(h)
        h = self.mid_res2(self.mid_attn(self.mid_res1(h, emb)), emb)
        for level in self.up:
            for res, attn in zip(level.res, level.attn, strict=True):
                h = attn(res(torch.cat([h, skips.pop()], dim=1), emb))
            if level.resample is not None:
                h = level.resample(h, skips[-1].shape[-2:])  # (B, C, 2H or odd skip size)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C_out, H, W)
