"""Text encoders: caption token ids (B, L) → :class:`TextStates` (hidden states, mask, pooled).

One interface, two token embeddings under the same small trainable transformer:

- :class:`WordLlamaTextEncoder`: the frozen WordLlama table (:mod:`trigen.text.wordllama`), kept as
  a non-persistent buffer (reloaded from the installed wheel, never saved in a checkpoint), then a
  trainable projection 256 → width: PixArt-α's caption projection over frozen T5 states and
  LlamaGen's ``CaptionEmbedder``, with a frozen table in place of the frozen language model;
- :class:`LearnedTextEncoder`: a trainable embedding over a learned vocabulary, from scratch, so
  the benefit of pretraining can be measured.

Both add learned positions and run ``layers`` pre-norm transformer blocks whose attention reads
only a caption's real tokens. ``pooled`` is the masked mean of the final hidden states. The null
caption (a row of PAD only) becomes the encoder's learned null: one learned token at position 0,
the only position its mask marks real, and a learned pooled vector (PixArt's learned null
caption), the same for every null row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor, nn

from trigen.conditions import PAD, ConditionSpec
from trigen.errors import ConfigError, DataError
from trigen.nn.mlp import Mlp
from trigen.text.tokenizer import TextEncoderKind, encoder_kind
from trigen.text.wordllama import WORDLLAMA_DIM, load_wordllama

HEAD_WIDTH = 64
"""The default attention head width: heads = width // 64 (at least one, dividing width)."""
MLP_RATIO = 4
INIT_STD = 0.02
"""The std of the learned positions, null caption and learned token embeddings (GPT-2's)."""


class TextStates(NamedTuple):
    """A text encoder's output for B captions of L positions."""

    hidden: Tensor  # (B, L, width), zero at padding
    mask: Tensor  # (B, L) bool, True = a real position (a caption's token or the null token)
    pooled: Tensor  # (B, width): masked mean of hidden; the learned null vector for a null row


class TextBlock(nn.Module):
    """A pre-norm transformer block (B, L, D) → (B, L, D) whose attention reads only the
    positions ``mask`` (B, L) marks True."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = Mlp(width, MLP_RATIO * width)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=~mask, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


def default_heads(width: int) -> int:
    """The most heads of at least HEAD_WIDTH channels that divide ``width`` (at least one)."""
    return next(h for h in range(max(1, width // HEAD_WIDTH), 0, -1) if width % h == 0)


class TextEncoder(nn.Module, ABC):
    """Token ids (B, L ≤ ``spec.size``) int64 padded with PAD → :class:`TextStates` of ``width``.

    Subclasses say how a token id becomes a ``width`` vector (:meth:`embed_tokens`); the
    positions, transformer, pooling and null are shared.
    """

    def __init__(
        self, spec: ConditionSpec, width: int, *, layers: int = 2, heads: int | None = None
    ) -> None:
        super().__init__()
        heads = default_heads(width) if heads is None else heads
        if heads < 1 or width % heads:
            raise ConfigError(f"text encoder width {width} is not divisible by {heads} heads")
        self.kind = encoder_kind(spec)
        self.context = spec.size
        self.width = width
        self.pos_embed = nn.Parameter(torch.randn(spec.size, width) * INIT_STD)
        self.blocks = nn.ModuleList(TextBlock(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.null_token = nn.Parameter(torch.randn(width) * INIT_STD)
        self.null_pooled = nn.Parameter(torch.randn(width) * INIT_STD)

    def keep_nulls(self, *, states: bool, pooled: bool) -> None:
        """Keep only the learned nulls of what the owning network reads (its hidden ``states``,
        its ``pooled`` vector): a parameter no loss reaches would stop a data-parallel job. A
        checkpoint written before still loads: its unread null is ignored."""
        for name, read in (("null_token", states), ("null_pooled", pooled)):
            if not read:
                delattr(self, name)
                self.register_parameter(name, None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in ("null_token", "null_pooled"):
            if getattr(self, name) is None:
                state_dict.pop(prefix + name, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @abstractmethod
    def embed_tokens(self, ids: Tensor) -> Tensor:
        """Token ids (B, L) without PAD → (B, L, width)."""

    def forward(self, ids: Tensor) -> TextStates:
        length = ids.shape[1]  # L
        if length > self.context:
            raise DataError(f"captions of {length} tokens; this text encoder reads {self.context}")
        mask = ids != PAD  # (B, L)
        null = ~mask.any(dim=1)  # (B,)
        first = torch.zeros_like(mask)
        first[:, 0] = True
        attend = mask | (null[:, None] & first)  # a null row reads one slot: no empty softmax
        x = self.embed_tokens(ids.clamp_min(0)) + self.pos_embed[:length]  # (B, L, D)
        for block in self.blocks:
            x = block(x, attend)  # (B, L, D)
        x = self.norm(x) * mask[..., None]  # padding (and null rows) zero
        pooled = x.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1)  # (B, D)
        hidden = x  # an unread null stays zero
        if self.null_token is not None:
            null_caption = first[..., None] * self.null_token  # (B, L, D): one learned token
            hidden = torch.where(null[:, None, None], null_caption.to(x.dtype), x)
        if self.null_pooled is not None:
            pooled = torch.where(null[:, None], self.null_pooled.to(x.dtype), pooled)
        return TextStates(hidden, torch.where(null[:, None], first, mask), pooled)


class WordLlamaTextEncoder(TextEncoder):
    """The frozen WordLlama table (V, 256) as a non-persistent buffer, a trainable projection
    ``caption_proj`` 256 → width, then the shared transformer."""

    def __init__(
        self, spec: ConditionSpec, width: int, *, layers: int = 2, heads: int | None = None
    ) -> None:
        super().__init__(spec, width, layers=layers, heads=heads)
        self.register_buffer("table", load_wordllama().table, persistent=False)  # (V, 256)
        self.caption_proj = nn.Linear(WORDLLAMA_DIM, width)

    def embed_tokens(self, ids: Tensor) -> Tensor:
        features = self.table[ids].to(self.caption_proj.weight.dtype)  # (B, L, 256), frozen
        return self.caption_proj(features)  # (B, L, D)


class LearnedTextEncoder(TextEncoder):
    """A trainable ``token_embed`` over the spec's learned vocabulary, then the shared
    transformer."""

    def __init__(
        self, spec: ConditionSpec, width: int, *, layers: int = 2, heads: int | None = None
    ) -> None:
        super().__init__(spec, width, layers=layers, heads=heads)
        if not spec.vocabulary:
            raise ConfigError(f"condition {spec.name}: a learned text encoder needs a vocabulary")
        self.token_embed = nn.Embedding(len(spec.vocabulary), width)
        nn.init.normal_(self.token_embed.weight, std=INIT_STD)

    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.token_embed(ids)  # (B, L, D)


ENCODERS: dict[TextEncoderKind, type[TextEncoder]] = {
    TextEncoderKind.WORDLLAMA: WordLlamaTextEncoder,
    TextEncoderKind.LEARNED: LearnedTextEncoder,
}


def build_text_encoder(
    spec: ConditionSpec, width: int, *, layers: int = 2, heads: int | None = None
) -> TextEncoder:
    """The text encoder ``spec.encoder`` names, producing states of ``width``."""
    return ENCODERS[encoder_kind(spec)](spec, width, layers=layers, heads=heads)
