"""A decoder-only causal transformer over image tokens (image-GPT / LlamaGen style), class prefix.

The model reads the input stream ``s = [class(y), x_0, x_1, …, x_{L-2}]`` and the logits at stream
position ``p`` predict data token ``x_p``. Tokens are pixels' 256 intensity levels (grayscale: one
token per pixel; colour: R, G, B tokens per pixel, raster order) or the indices of a VQ codebook.

``forward(tokens, y, cache)`` reads the stream positions ``[start, start + n)`` where ``start`` is
the number of positions the cache already holds (0 without a cache): the class token is read iff
``start == 0`` and the data tokens ``tokens`` (B, T) follow it, so a call returns ``T + 1`` logits
at ``start == 0`` and ``T`` after. Training calls ``net(x[:, :-1], y)`` → (B, L, V); sampling
prefills with the class token (``T = 0``) and then decodes one token per call.

Named conditions (``cfg.conditions``, :mod:`trigen.conditions`) are ``P`` prefix tokens before
the class token (LlamaGen's caption prefix, :mod:`trigen.models.prefix`): ``[prefix(conds),
class(y), x_0,
…]``. They are read with the class token (``forward(…, conds)`` at ``start == 0``), held in the
KV cache like every position, never rotated under RoPE, and predict nothing: the logits, and the
``start`` above, count the class and data positions only, so the prefix changes only what the
stream attends to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import torch
from torch import Tensor

from trigen.batch import NO_CONDITIONS
from trigen.conditions import ConditionSpec
from trigen.errors import ConfigError
from trigen.models.prefix import prefix_length
from trigen.models.presets import check_field_types, from_preset, preset_fields
from trigen.models.token_blocks import Positions, TokenTransformer
from trigen.nn.kv_cache import KVCache

PIXEL_VOCAB = 256
"""Vocabulary of a pixel model: the 256 intensity levels of an 8-bit sub-pixel."""


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
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class: a prefix
    # side of a map condition's patches, one prefix token each; must divide the map's side
    # (4 divides the 8, 16, 28, 32 and 64 px sides; 28 px → 49 map tokens)
    map_patch: int = 4
    # side of the map conditions in pixels; 0 = the token grid's (pixel models). A model over
    # VQ codes reads maps at image resolution: give the image side
    map_size: int = 0

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
        if self.map_size < 0:
            raise ConfigError(f"{kind} map_size must be ≥ 0 (0 = the grid's), got {self.map_size}")
        prefix_length(self.conditions, self.map_shape, self.map_patch)  # map_patch divides it

    @property
    def seq_len(self) -> int:
        """Data tokens per image (= stream positions)."""
        h, w, c = self.grid
        return h * w * c

    @property
    def null_class(self) -> int:
        """Index of the null (unconditional) class token."""
        return self.num_classes

    @property
    def map_shape(self) -> tuple[int, int]:
        """(h, w) in pixels of the map conditions the model reads."""
        return (self.map_size, self.map_size) if self.map_size else self.grid[:2]

    @property
    def prefix_len(self) -> int:
        """Prefix tokens of the named conditions before the class token (0 = class only)."""
        return prefix_length(self.conditions, self.map_shape, self.map_patch)


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


class ARTransformer(TokenTransformer):
    """Causal transformer: data tokens (B, T) and classes y (B,) → next-token logits (B, T', V).

    Input vocabulary: ``tok_embedder`` (vocab_size rows) for data tokens and ``y_embedder``
    (num_classes + 1 rows, the last is the null class) for the class prefix. The output head is
    *untied*: the input side has class rows the output never predicts, and untying costs only
    width · vocab parameters. GPT-2 init: N(0, 0.02) weights, residual projections scaled by
    1/√(2·depth), zero biases.
    """

    def __init__(self, cfg: ARTransformerConfig) -> None:
        # stream position p (the class token at p = 0) predicts x_p: it is rotated as x_p's
        # pixel; the prefix before it has no place in the image
        super().__init__(cfg, input_vocab=cfg.vocab_size, unrotated=cfg.prefix_len, causal=True)

    def new_cache(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> KVCache:
        """An empty :class:`KVCache` for ``batch`` sequences of the prefix and ``seq_len``
        positions.

        ``dtype`` defaults to the dtype of the weights.
        """
        cfg = self.cfg
        dtype = self.head.weight.dtype if dtype is None else dtype
        return KVCache(
            cfg.depth, batch, cfg.heads, cfg.prefix_len + cfg.seq_len, cfg.width // cfg.heads,
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

    def embed(
        self, tokens: Tensor, y: Tensor, start: int = 0, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """Embedded stream positions (B, T', D): the prefix and the class token iff
        ``start == 0``, then the tokens.

        ``tokens`` (B, T) int64 data tokens, ``y`` (B,) int64 classes (null = num_classes),
        ``conds`` the named conditions (an absent one is its null; read at ``start == 0`` only).
        ``start`` counts class and data positions (the prefix is not counted).
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
        x = x + self.absolute_positions(start, x.shape[1])
        if start == 0 and self.prefix_embedder is not None:
            prefix = self.prefix_embedder(conds, x.shape[0]).to(x.dtype)  # (B, P, D)
            x = torch.cat([prefix, x], dim=1)  # (B, P + T + 1, D)
        return x

    def logits(self, x: Tensor, cache: KVCache | None = None, y: Tensor | None = None) -> Tensor:
        """Blocks → norm → head on embedded positions x (B, T', D) → logits (B, T'', V), where
        T'' leaves out the prefix positions x holds (:meth:`embed`).

        With a cache, ``x`` continues the cached positions and the cache advances past them.
        ``y`` (B,) classes: needed by ``class_adaln`` blocks only.
        """
        c = self.class_condition(y)
        start = 0 if cache is None else cache.length  # the prefix included
        rope = None
        if self.cfg.positions.rotary:
            span = slice(start, start + x.shape[1])
            rope = (self.rope_cos[span], self.rope_sin[span])
        for block in self.blocks:
            x = block(x, cache, rope, c)  # (B, T', D)
        if cache is not None:
            cache.advance(x.shape[1])
        x = x[:, max(0, self.cfg.prefix_len - start) :]  # (B, T'', D): the prefix predicts nothing
        return self.head(self.norm(x))  # (B, T'', V)

    def forward(
        self, tokens: Tensor, y: Tensor, cache: KVCache | None = None,
        conds: Mapping[str, Tensor] = NO_CONDITIONS,
    ) -> Tensor:  # fmt: skip
        """Next-token logits (B, T', V) of the stream positions this call reads (module docstring).

        ``tokens`` (B, T) int64, ``y`` (B,) int64, ``conds`` the named conditions (read when the
        call starts the stream). ``T' = T + 1`` when the call starts the stream (no cache, or an
        empty one), else ``T``; ``logits[:, i]`` predicts ``x_{start + i}``.
        """
        start = 0 if cache is None else max(cache.length - self.cfg.prefix_len, 0)
        x = self.embed(tokens, y, start, conds)  # (B, P + T + 1, D) or (B, T, D)
        return self.logits(x, cache, y)
