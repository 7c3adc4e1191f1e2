"""DiT's configuration: the conditioning variants, the shape of a network and its size presets.

:mod:`trigen.models.dit` builds the network from a :class:`DiTConfig`; the names here are also
importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.errors import ConfigError
from trigen.models.presets import check_field_types, from_preset, preset_fields
from trigen.nn.conditioning import map_channels, specs_of
from trigen.text.conditions import text_length, text_specs

PATCH_SIZES = (2, 4, 8)
LABEL_INIT_STD = 0.02
"""Normal init std of the label table and timestep MLP (official DiT)."""


class Conditioning(StrEnum):
    """How t and y enter the blocks (DiT paper §3.2)."""

    ADALN_ZERO = "adaln_zero"  # regressed scale/shift + zero-initialised residual gates
    ADALN = "adaln"  # regressed scale/shift only
    IN_CONTEXT = "in_context"  # t and y appended as two extra tokens
    CROSS_ATTN = "cross_attn"  # blocks cross-attend to the two condition tokens


class VectorInjection(StrEnum):
    """Where a vector condition enters (adaLN variants; otherwise it is always a token)."""

    ADALN = "adaln"  # a zero-initialised projection added to c = t + y
    TOKENS = "tokens"  # one token per vector, in self-attention with the image tokens


class TextInjection(StrEnum):
    """Where a text condition enters."""

    CROSS_ATTN = "cross_attn"  # every block cross-attends to the caption (PixArt-α)
    TOKENS = "tokens"  # the caption's states join the image tokens in self-attention (shared)
    JOINT = "joint"  # MM-DiT (SD3): joint attention, the caption with its own weights, + pooled
    POOLED = "pooled"  # only the pooled caption, into adaLN's c (DiT issue #30: not enough)


class MapInjection(StrEnum):
    """Where a map condition enters."""

    PATCH = "patch"  # a zero-initialised patch embedding added to the image tokens
    TOKENS = "tokens"  # its own patch tokens (same positions), in attention with the image


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
    # init, so a fresh network is the paper's. Off: it did not pay at 28 px
    # (docs/measurements.md, "DiT output_conv").
    output_conv: bool = False
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    vector_injection: VectorInjection = VectorInjection.ADALN
    map_injection: MapInjection = MapInjection.PATCH
    text_injection: TextInjection = TextInjection.CROSS_ATTN

    def __post_init__(self) -> None:
        check_field_types(self, "DiT")
        if self.has_text and self.text_injection is TextInjection.POOLED and not self.adaptive:
            raise ConfigError(
                "text_injection pooled feeds adaLN: use conditioning adaln_zero or adaln, or "
                "text_injection cross_attn / tokens"
            )
        joint = self.text_injection is TextInjection.JOINT
        if self.has_text and joint and self.conditioning is not Conditioning.ADALN_ZERO:
            raise ConfigError(
                "text_injection joint (MM-DiT) modulates the caption stream by adaLN-Zero: use "
                "conditioning adaln_zero, or text_injection cross_attn / tokens"
            )
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

    @property
    def adaptive(self) -> bool:
        return self.conditioning in (Conditioning.ADALN_ZERO, Conditioning.ADALN)

    @property
    def has_text(self) -> bool:
        return bool(text_specs(self.conditions))

    @property
    def text_tokens(self) -> int:
        """Tokens the captions add to the image tokens (``text_injection`` tokens or joint)."""
        joins = self.text_injection in (TextInjection.TOKENS, TextInjection.JOINT)
        return text_length(self.conditions) * joins

    @property
    def vectors_as_tokens(self) -> bool:
        return not self.adaptive or self.vector_injection is VectorInjection.TOKENS

    @property
    def condition_tokens(self) -> int:
        """Tokens the named conditions add (to the image tokens, or to the cross-attention
        context): one per vector when vectors are tokens, a grid of patches per map as tokens."""
        vectors = len(specs_of(self.conditions, ConditionKind.VECTOR))
        maps = self.map_injection is MapInjection.TOKENS and map_channels(self.conditions) > 0
        return vectors * self.vectors_as_tokens + maps * self.grid**2


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
