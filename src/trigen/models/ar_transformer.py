"""A decoder-only causal transformer over image tokens (image-GPT / LlamaGen style), class prefix.

The model reads the input stream ``s = [class(y), x_0, x_1, …, x_{L-2}]`` and the logits at stream
position ``p`` predict data token ``x_p``. Tokens are pixels' 256 intensity levels (grayscale: one
token per pixel; colour: R, G, B tokens per pixel, raster order) or the indices of a VQ codebook.

``forward(tokens, y, cache)`` reads the stream positions ``[start, start + n)`` where ``start`` is
the number of positions the cache already holds (0 without a cache): the class token is read iff
``start == 0`` and the data tokens ``tokens`` (B, T) follow it, so a call returns ``T + 1`` logits
at ``start == 0`` and ``T`` after. Training calls ``net(x[:, :-1], y)`` → (B, L, V); sampling
prefills with the class token (``T = 0``) and then decodes one token per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, TypeVar

import torch
from torch import Tensor, nn

from trigen.errors import ConfigError
from trigen.models.presets import check_field_types, from_preset, preset_fields
from trigen.nn.attention import Attention
from trigen.nn.embeddings import LabelEmbedder, sincos_pos_embed_2d
from trigen.nn.kv_cache import KVCache
from trigen.nn.mlp import Mlp
from trigen.nn.modulation import adaln_modulation, gated_residual, modulate
from trigen.nn.rope import rope_2d_angles

PIXEL_VOCAB = 256
"""Vocabulary of a pixel model: the 256 intensity levels of an 8-bit sub-pixel."""

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


@dataclass(frozen=True, kw_only=True)
class ARTransformerConfig:
    """Shape of an :class:`ARTransformer`.

    ``grid`` is the token grid ``(h, w, channels)``: (H, W, C) for pixels, (h, w, 1) for VQ tokens;
    ``seq_len = h · w · channels`` tokens per image, channel-interleaved in raster order.
    """

    vocab_size: int
    grid: tuple[int, int, int]
    num_classes: int
    width: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    positions: Positions = Positions.LEARNED
    # also add the class embedding to every token's input (the class bias of conditional
    # PixelCNN), not only as the prefix token: every position sees the class from the first step
    class_bias: bool = False
    # also modulate every block by the class (DiT's adaLN-Zero: shift, scale and a zero-initialised
    # gate per sub-layer regressed from the class embedding); the prefix token stays
    class_adaln: bool = False

    kind: ClassVar[str] = "AR"  # the model's name in error messages

    def __post_init__(self) -> None:
        kind = self.kind
        check_field_types(self, kind)
        if min(self.grid) <= 0:
            raise ConfigError(f"{kind} grid must be 3 positive ints (h, w, c), got {self.grid}")
        for name in ("vocab_size", "width", "depth", "heads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{kind} {name} must be positive, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ConfigError(f"{kind} width {self.width} is not divisible by heads {self.heads}")
        if self.positions is Positions.TWO_D and self.width % 4:
            raise ConfigError(
                f"{kind} width {self.width} must be a multiple of 4 for 2-D positions"
            )
        if self.positions.rotary and (self.width // self.heads) % 4:
            raise ConfigError(
                f"{kind} head width {self.width}/{self.heads} must be a multiple of 4 for 2-D RoPE"
            )
        if self.num_classes < 0 or self.mlp_ratio <= 0:
            raise ConfigError(f"{kind} num_classes must be ≥ 0 and mlp_ratio > 0")

    @property
    def seq_len(self) -> int:
        """Data tokens per image (= stream positions)."""
        h, w, c = self.grid
        return h * w * c

    @property
    def null_class(self) -> int:
        """Index of the null (unconditional) class token."""
        return self.num_classes


AR_PRESETS: dict[str, dict[str, int]] = {
    "ar-tiny": {"width": 128, "depth": 4, "heads": 4},  # CPU demos and tests
    "ar-small": {"width": 256, "depth": 8, "heads": 8},
    "ar-medium": {"width": 512, "depth": 12, "heads": 8},
    "ar-large": {"width": 768, "depth": 24, "heads": 12},
}
"""Preset name → architecture fields (width, depth, heads)."""


C = TypeVar("C", bound=ARTransformerConfig)


def token_model_config(
    cls: type[C],
    presets: dict[str, dict[str, int]],
    preset: str,
    *,
    num_classes: int,
    image_shape: tuple[int, int, int] | None = None,
    grid: tuple[int, int, int] | None = None,
    vocab_size: int = PIXEL_VOCAB,
    **overrides,
) -> C:
    """The config ``cls`` of ``preset`` for a transformer over image tokens.

    Give ``image_shape`` (C, H, W) for a pixel model (grid (H, W, C), 256 levels) or ``grid``
    (h, w, channels) with ``vocab_size`` for a token model (a VQ grid is (h, w, 1)).
    ``overrides`` replace any other field (``positions="2d"``, ``depth=2``, …).
    """
    if (image_shape is None) == (grid is None):
        raise ConfigError("give exactly one of image_shape (pixel model) or grid (token model)")
    if image_shape is not None:
        c, h, w = image_shape
        grid = (h, w, c)
    data = dict(vocab_size=vocab_size, grid=grid, num_classes=num_classes)
    fields = preset_fields(presets, preset, cls.kind)
    return from_preset(cls, fields, data=data, overrides=overrides, what=cls.kind)


def ar_config(preset: str, **kwargs) -> ARTransformerConfig:
    """The :class:`ARTransformerConfig` of ``preset`` (e.g. ``"ar-tiny"``); the arguments of
    :func:`token_model_config`."""
    return token_model_config(ARTransformerConfig, AR_PRESETS, preset, **kwargs)


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


class ARTransformer(nn.Module):
    """Causal transformer: data tokens (B, T) and classes y (B,) → next-token logits (B, T', V).

    Input vocabulary: ``tok_embedder`` (vocab_size rows) for data tokens and ``y_embedder``
    (num_classes + 1 rows, the last is the null class) for the class prefix. The output head is
    *untied*: the input side has class rows the output never predicts, and untying costs only
    width · vocab parameters. GPT-2 init: N(0, 0.02) weights, residual projections scaled by
    1/√(2·depth), zero biases.
    """

    # repeated units: recomputed by gradient checkpointing, sharded by FSDP (trigen.train)
    unit_types = (Block,)

    def __init__(self, cfg: ARTransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embedder = nn.Embedding(cfg.vocab_size, cfg.width)
        self.y_embedder = LabelEmbedder(cfg.num_classes, cfg.width)
        if cfg.positions.learned_table:
            self.pos_embed = nn.Parameter(torch.zeros(cfg.seq_len, cfg.width))
        if cfg.positions.rotary:
            h, w, c = cfg.grid
            # stream position p predicts x_p, whose pixel is p // c: rotate by that (row, col)
            pixel = torch.arange(cfg.seq_len) // c
            angles = rope_2d_angles(cfg.width // cfg.heads, pixel // w, pixel % w)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)  # (L, Dh/2)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
        if cfg.positions is Positions.TWO_D:
            h, w, c = cfg.grid
            # the pixel of stream position p is p // c: repeat each (row, col) c times
            fixed = sincos_pos_embed_2d(cfg.width, h, w).repeat_interleave(c, dim=0)
            self.register_buffer("pos_fixed", fixed, persistent=False)  # (L, D)
            self.channel_embed = nn.Parameter(torch.zeros(c, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """GPT-2 initialisation (see the class docstring)."""
        gpt2_init(self)

    def new_cache(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        """An empty :class:`KVCache` for ``batch`` sequences of up to ``seq_len`` positions.

        ``dtype`` defaults to the dtype of the weights.
        """
        cfg = self.cfg
        dtype = self.head.weight.dtype if dtype is None else dtype
        return KVCache(
            cfg.depth, batch, cfg.heads, cfg.seq_len, cfg.width // cfg.heads,
            device=device, dtype=dtype,
        )  # fmt: skip

    def absolute_positions(self, start: int, length: int) -> Tensor | float:
        """Absolute position vectors (length, D) of stream positions ``[start, start + length)``
        (0 when the positions are rotary only)."""
        if self.cfg.positions is Positions.ROTARY:
            return 0.0
        if self.cfg.positions is not Positions.TWO_D:
            return self.pos_embed[start : start + length]
        index = torch.arange(start, start + length, device=self.pos_fixed.device)
        channel = index % self.cfg.grid[2]  # channel-interleaved: position p is channel p % c
        return self.pos_fixed[start : start + length] + self.channel_embed[channel]

    def class_condition(self, y: Tensor | None) -> Tensor | None:
        """The class embedding (B, D) the blocks modulate by (``class_adaln``), else None."""
        if not self.cfg.class_adaln:
            return None
        if y is None:
            raise ValueError("a class_adaln network needs the classes y")
        return self.y_embedder(y)

    def embed(self, tokens: Tensor, y: Tensor, start: int = 0) -> Tensor:
        """Embedded stream positions (B, T', D): the class token iff ``start == 0``, then tokens.

        ``tokens`` (B, T) int64 data tokens, ``y`` (B,) int64 classes (null = num_classes).
        """
        x = self.tok_embedder(tokens)  # (B, T, D)
        if self.cfg.class_bias:
            x = x + self.y_embedder(y)[:, None]
        if start == 0:
            x = torch.cat([self.y_embedder(y)[:, None], x], dim=1)  # (B, T + 1, D)
        if start + x.shape[1] > self.cfg.seq_len:
            raise ValueError(
                f"stream positions [{start}, {start + x.shape[1]}) exceed seq_len "
                f"{self.cfg.seq_len}; feed x[:, :-1] (the last token is only a target)"
            )
        return x + self.absolute_positions(start, x.shape[1])

    def logits(self, x: Tensor, cache: KVCache | None = None, y: Tensor | None = None) -> Tensor:
        """Blocks → norm → head on embedded positions x (B, T', D) → logits (B, T', V).

        With a cache, ``x`` continues the cached positions and the cache advances past them.
        ``y`` (B,) classes: needed by ``class_adaln`` blocks only.
        """
        c = self.class_condition(y)
        rope = None
        if self.cfg.positions.rotary:
            start = 0 if cache is None else cache.length
            span = slice(start, start + x.shape[1])
            rope = (self.rope_cos[span], self.rope_sin[span])
        for block in self.blocks:
            x = block(x, cache, rope, c)  # (B, T', D)
        if cache is not None:
            cache.advance(x.shape[1])
        return self.head(self.norm(x))  # (B, T', V)

    def forward(self, tokens: Tensor, y: Tensor, cache: KVCache | None = None) -> Tensor:
        """Next-token logits (B, T', V) of the stream positions this call reads (module docstring).

        ``tokens`` (B, T) int64, ``y`` (B,) int64. ``T' = T + 1`` when the call starts the stream
        (no cache, or an empty one), else ``T``; ``logits[:, i]`` predicts ``x_{start + i}``.
        """
        start = 0 if cache is None else cache.length
        x = self.embed(tokens, y, start)  # (B, T', D)
        return self.logits(x, cache, y)
