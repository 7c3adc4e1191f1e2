"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

A vertical stack sees every row above the current one (no blind spot) and feeds a horizontal
stack that sees the pixels to the left in the current row. Causality is by construction:

* the vertical convolution covers rows ``i - k//2 .. i``; its output is shifted down one row
  before it reaches the horizontal stack, which therefore only sees rows ``< i`` through it;
* the horizontal convolution covers columns ``j - k//2 .. j`` of row ``i``; at the current pixel
  (and in every 1×1 convolution) a channel mask applies: feature channels are split into
  ``G`` ordered groups and group g may read group g' only if g' < g (mask A, first layer) or
  g' ≤ g (mask B, later layers).

With the 256-way softmax output ``G = C`` (R → G → B: the logits of channel c see channels < c of
the current pixel). With the logistic-mixture output ``G = 1``: the outputs never see the current
pixel and the channel coupling lives in the likelihood
(:mod:`trigen.autoregressive.logistic_mixture`).
"""

from __future__ import annotations

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
from trigen.nn.conditioning import VectorEmbedders, map_channels, map_input, specs_of, zero_module
from trigen.text.conditions import TextConditions, text_specs

NUM_LEVELS = 256
"""Intensity levels per sub-pixel: the width of the softmax output."""

MAP_ENCODER_LAYERS = 2
"""3×3 convolutions of the map encoder: each map feature reads this many rows (and columns) of
the map on either side."""


class PixelCNNOutput(StrEnum):
    """What the network predicts per pixel."""

    SOFTMAX256 = "softmax256"  # 256 logits per sub-pixel: (B, 256, C, H, W)
    LOGISTIC_MIXTURE = "logistic_mixture"  # PixelCNN++ mixture parameters: (B, P, H, W)


@dataclass(frozen=True)
class PixelCNNConfig:
    """Shape and size of a gated PixelCNN; ``num_classes == 0`` is unconditional (null row only)."""

    in_channels: int = 1
    input_size: int = 28
    num_classes: int = 10
    channels: int = 16  # feature maps per stack
    num_layers: int = 4  # gated layers (the first uses mask A)
    kernel_size: int = 5  # odd; each layer reaches kernel_size // 2 pixels further
    output: PixelCNNOutput = PixelCNNOutput.SOFTMAX256
    num_mixtures: int = 5  # logistic-mixture components (only for that output)
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class

    def __post_init__(self) -> None:
        check_field_types(self, "PixelCNN")
        positive = ("in_channels", "input_size", "channels", "num_layers", "num_mixtures")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"PixelCNN {name} must be ≥ 1, got {getattr(self, name)}")
        if self.num_classes < 0:
            raise ConfigError(f"PixelCNN num_classes must be ≥ 0, got {self.num_classes}")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ConfigError(f"PixelCNN kernel_size must be odd and ≥ 3, got {self.kernel_size}")
        if self.channels < self.num_groups:
            raise ConfigError(
                f"PixelCNN channels ({self.channels}) must be ≥ in_channels ({self.in_channels}) "
                "so that every colour channel gets its own feature group"
            )

    @property
    def num_groups(self) -> int:
        """Ordered channel groups at the current pixel: C for softmax, 1 for the mixture."""
        return self.in_channels if self.output is PixelCNNOutput.SOFTMAX256 else 1

    @property
    def context_rows(self) -> int:
        """Rows above a pixel that reach its output (the vertical stack's depth, plus its shift).

        Zero padding makes a window of rows ``[i - context_rows, i]`` give row i exactly the
        output of the full image, which lets sampling crop its input.
        """
        return self.num_layers * (self.kernel_size // 2) + 1

    @property
    def map_reach(self) -> int:
        """Rows of a map condition above and below a pixel that its map features read (0 for a
        model without maps): a window of rows ``[i - context_rows - map_reach, i + map_reach]``
        of the image and the maps gives row i exactly the output of the full image."""
        return MAP_ENCODER_LAYERS if map_channels(self.conditions) else 0

    @property
    def out_channels(self) -> int:
        """Channels of the final 1×1 convolution."""
        if self.output is PixelCNNOutput.SOFTMAX256:
            return NUM_LEVELS * self.in_channels
        # PixelCNN++ layout (see trigen.autoregressive.logistic_mixture, which models may not
        # import): per component one logit, C means, C log-scales, C(C-1)/2 channel coefficients.
        C = self.in_channels
        return self.num_mixtures * (1 + 2 * C + C * (C - 1) // 2)


PIXELCNN_PRESETS: dict[str, dict] = {
    # CPU-sized, 28×28 grayscale (MNIST); receptive field 9 rows up, ±8 columns. Narrow on
    # purpose: on two shared CPU cores the convolutions and the 256-way head bound the speed.
    "pixelcnn-tiny": dict(channels=16, num_layers=4, kernel_size=5),
    "pixelcnn-small": dict(channels=48, num_layers=6, kernel_size=5),
    "pixelcnn-cifar": dict(
        in_channels=3,
        input_size=32,
        channels=128,
        num_layers=12,
        kernel_size=5,
        output=PixelCNNOutput.LOGISTIC_MIXTURE,
        num_mixtures=10,
    ),
}


def pixelcnn_config(preset: str, **overrides: int | str | PixelCNNOutput) -> PixelCNNConfig:
    """The named preset with ``overrides`` (any :class:`PixelCNNConfig` field, the data's shape
    fields included: they have defaults here) applied."""
    fields = preset_fields(PIXELCNN_PRESETS, preset, "PixelCNN")
    return from_preset(PixelCNNConfig, fields, data={}, overrides=overrides, what="PixelCNN")


def _groups(n: int, num_groups: int) -> Tensor:
    """Group index (n,) of each of n channels: contiguous blocks, in order."""
    return torch.arange(n) * num_groups // n


def _channel_mask(out_groups: Tensor, in_groups: Tensor, *, strict: bool) -> Tensor:
    """(out, in) 0/1: out may read in iff in_group < out_group (strict, mask A) or ≤ (mask B)."""
    allowed = (
        in_groups[None, :] < out_groups[:, None]
        if strict
        else in_groups[None, :] <= out_groups[:, None]
    )
    return allowed.float()


class MaskedConv2d(nn.Conv2d):
    """A bias-carrying convolution, no padding, whose weight is multiplied by a fixed 0/1 mask.

    The channel mask applies at the kernel's last column and row (the current pixel for the
    horizontal and 1×1 convolutions); every other tap is free. The mask is not saved.
    """

    def __init__(
        self, out_groups: Tensor, in_groups: Tensor, kernel: tuple[int, int], *, strict: bool
    ) -> None:
        super().__init__(len(in_groups), len(out_groups), kernel)
        mask = torch.ones_like(self.weight)
        mask[:, :, -1, -1] = _channel_mask(out_groups, in_groups, strict=strict)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias)


def _gate(x: Tensor) -> Tensor:
    """tanh(a) ⊙ σ(b) for x = [a ‖ b] along channels: (B, 2D, H, W) → (B, D, H, W)."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def _shift_down(x: Tensor) -> Tensor:
    """Move every row one down (row 0 becomes zeros): row i then holds what row i-1 saw."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    """One gated layer of both stacks with class-conditional gate biases.

    ``forward(v, h, emb, hint)`` with v, h (B, D_in, H, W), emb (B, D) and the map features hint
    (B, D, H, W) (``map_dim`` > 0 only) returns the new vertical and horizontal maps
    (B, D, H, W) and this layer's skip contribution (B, D, H, W).
    """

    def __init__(
        self, in_groups: Tensor, dim: int, num_groups: int, kernel_size: int, *, first: bool,
        map_dim: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.first = first  # reads the image: mask A, and no residual (the widths differ)
        self.reach = kernel_size // 2
        groups = _groups(dim, num_groups)
        gate_groups = groups.repeat(2)  # the tanh half and the sigmoid half of each channel
        in_dim = len(in_groups)
        self.v_conv = nn.Conv2d(in_dim, 2 * dim, (self.reach + 1, kernel_size))
        self.h_conv = MaskedConv2d(gate_groups, in_groups, (1, self.reach + 1), strict=self.first)
        self.v_to_h = nn.Conv2d(2 * dim, 2 * dim, 1)
        self.y_proj = nn.Linear(dim, 4 * dim)  # gate biases of both stacks
        # the residual and the skip branch of the gated output, fused into one 1×1 convolution
        self.h_out = MaskedConv2d(groups.repeat(2), groups, (1, 1), strict=False)
        # the map's gate biases of both stacks, per location: zero at init (the identity)
        self.map_proj = zero_module(nn.Conv2d(map_dim, 4 * dim, 1)) if map_dim else None

    def forward(
        self, v: Tensor, h: Tensor, emb: Tensor, hint: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        r = self.reach
        bias = self.y_proj(emb)[:, :, None, None]  # (B, 4D, 1, 1)
        if self.map_proj is not None:
            bias = bias + self.map_proj(hint)  # (B, 4D, H, W): the map, seen unmasked
        y_v, y_h = bias.chunk(2, dim=1)  # each (B, 2D, 1, 1) or (B, 2D, H, W)
        v_pre = self.v_conv(F.pad(v, (r, r, r, 0))) + y_v  # (B, 2D, H, W): rows i-r..i
        h_pre = self.h_conv(F.pad(h, (r, 0, 0, 0))) + self.v_to_h(_shift_down(v_pre)) + y_h
        residual, skip = self.h_out(_gate(h_pre)).chunk(2, dim=1)  # each (B, D, H, W)
        h_new = residual if self.first else h + residual
        return _gate(v_pre), h_new, skip


class PixelCNN(nn.Module):
    """Gated PixelCNN with class conditioning (and named conditions: module docstring).

    ``forward(x, y, conds)``: x (B, C, H, W) float in [-1, 1] (the image itself, teacher forcing),
    y (B,) int64 class indices (``num_classes`` = null), ``conds`` the named conditions (maps
    (B, C', H, W) of the same rows as x; an absent condition is its null). Returns logits
    (B, 256, C, H, W) for the softmax output or mixture parameters (B, P, H, W) for the logistic
    mixture; position (i, j) (and channel c) depends only on earlier pixels in raster order (and
    channels < c of its own pixel), and on the conditions.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (GatedLayer,)

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__()
        self.cfg = config
        C, D, G = config.in_channels, config.channels, config.num_groups
        self.y_embedder = nn.Embedding(config.num_classes + 1, D)
        map_dim = D if map_channels(config.conditions) else 0
        K = config.kernel_size
        self.layers = nn.ModuleList(
            GatedLayer(_groups(C if i == 0 else D, G), D, G, K, first=i == 0, map_dim=map_dim)
            for i in range(config.num_layers)
        )
        groups = _groups(D, G)
        out_groups = _groups(config.out_channels, G)  # softmax: channel-major, 256 logits each
        self.out_hidden = MaskedConv2d(groups, groups, (1, 1), strict=False)
        self.out = MaskedConv2d(out_groups, groups, (1, 1), strict=False)
        self.vector_embedders = None  # zero-initialised, added to the class embedding
        if specs_of(config.conditions, ConditionKind.VECTOR):
            self.vector_embedders = VectorEmbedders(config.conditions, D, zero_init=True)
        self.text = self.text_pooled = None  # a caption, pooled: a vector bias like the class
        if text_specs(config.conditions):
            self.text = TextConditions(config.conditions, D, states=False)
            self.text_pooled = zero_module(nn.Linear(D, D))
        self.map_encoder = None
        if map_dim:
            layers = [nn.Conv2d(map_channels(config.conditions), D, 3, padding=1), nn.SiLU()]
            for _ in range(MAP_ENCODER_LAYERS - 1):
                layers += [nn.Conv2d(D, D, 3, padding=1), nn.SiLU()]
            self.map_encoder = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS) -> Tensor:
        B, C, H, W = x.shape
        emb = self.y_embedder(y)  # (B, D)
        if self.vector_embedders is not None:
            emb = emb + self.vector_embedders(conds, x)  # (B, D)
        if self.text is not None:  # the pooled caption, as a vector (zero at init)
            emb = emb + self.text_pooled(self.text(conds, x.shape[0], x.device).pooled)
        hint = None
        if self.map_encoder is not None:
            maps = map_input(conds, self.cfg.conditions, x)  # (B, C', H', W')
            if maps.shape[-2:] != x.shape[-2:]:
                raise ValueError(f"maps of {tuple(maps.shape[-2:])} given with images of {(H, W)}")
            hint = self.map_encoder(maps)  # (B, D, H, W)
        v = h = x
        skip = torch.zeros((), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            v, h, s = layer(v, h, emb, hint)  # each (B, D, H, W)
            skip = skip + s
        out = self.out(F.relu(self.out_hidden(F.relu(skip))))  # (B, out_channels, H, W)
        if self.cfg.output is PixelCNNOutput.SOFTMAX256:
            out = out.view(B, C, NUM_LEVELS, H, W).transpose(1, 2)  # (B, 256, C, H, W)
        return out
