"""The U-Net's configuration: the shape of a network, where a map enters, and the size presets.

:mod:`trigen.models.unet` builds the network from a :class:`UNetConfig`; the names here are also
importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trigen.conditions import ConditionSpec
from trigen.errors import ConfigError
from trigen.models.presets import check_field_types, from_preset, preset_fields


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
