"""Named conditions as prefix tokens of a token stream (LlamaGen's caption prefix).

A token model (raster AR, MaskGIT) reads its named conditions (:mod:`trigen.conditions`) as ``P``
tokens placed before the class token: one token per vector condition (in declaration order), then
the patches of the map conditions (concatenated on channels, raster order), then each caption's
encoded states (its context length, padding included; :mod:`trigen.text`), each plus a learned
prefix position vector. A null vector is its learned null embedding, a null map the zero map.
The prefix is a set of extra tokens, not an injection added to an existing stream, so nothing in
it is zero-initialised (a zero token would still take part in attention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.errors import ConfigError
from trigen.nn.conditioning import VectorEmbedders, map_channels, map_input, specs_of
from trigen.text.conditions import TextConditions, text_length, text_specs

PREFIX_INIT_STD = 0.02
"""Normal init std of the prefix position vectors and the vector nulls (GPT-2's)."""


def prefix_length(
    specs: Sequence[ConditionSpec], map_shape: tuple[int, int], map_patch: int
) -> int:
    """Prefix tokens of ``specs``: one per vector, plus the patches of a (h, w) map when the
    model has maps; a ConfigError when ``map_patch`` does not divide the map's sides."""
    vectors = len(specs_of(specs, ConditionKind.VECTOR)) + text_length(specs)
    if not map_channels(specs):
        return vectors
    h, w = map_shape
    if map_patch < 1 or h % map_patch or w % map_patch:
        raise ConfigError(
            f"map_patch {map_patch} must divide the map's sides {h}×{w}: set map_patch to a "
            "divisor of the image side"
        )
    return vectors + (h // map_patch) * (w // map_patch)


class ConditionPrefix(nn.Module):
    """Named conditions → prefix tokens (B, P, D) (module docstring).

    ``map_shape`` (h, w) is the side of the maps in pixels (the image's, also for a model over
    VQ codes); ``map_patch`` the side of a map patch, one token per patch (a Conv2d with that
    kernel and stride).
    """

    def __init__(
        self, specs: Sequence[ConditionSpec], width: int, map_shape: tuple[int, int],
        map_patch: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.specs = tuple(specs)
        self.map_shape = tuple(map_shape)
        self.num_tokens = prefix_length(specs, self.map_shape, map_patch)
        self.vector_embedders = None
        if specs_of(specs, ConditionKind.VECTOR):
            self.vector_embedders = VectorEmbedders(specs, width, zero_init=False)
        self.map_embedder = None
        if map_channels(specs):
            channels = map_channels(specs)
            self.map_embedder = nn.Conv2d(channels, width, map_patch, stride=map_patch)
        self.text = TextConditions(specs, width, pooled=False) if text_specs(specs) else None
        self.pos_embed = nn.Parameter(torch.zeros(self.num_tokens, width))
        self.initialize_weights()

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """N(0, 0.02) positions, vector linears and nulls (GPT-2's), Xavier map patches (ViT's
        patch embedding), zero biases."""
        nn.init.normal_(self.pos_embed, std=PREFIX_INIT_STD)
        if self.vector_embedders is not None:
            for embedder in self.vector_embedders.embedders.values():
                for layer in (embedder.mlp[0], embedder.mlp[2]):
                    nn.init.normal_(layer.weight, std=PREFIX_INIT_STD)
                    nn.init.zeros_(layer.bias)
                nn.init.normal_(embedder.null, std=PREFIX_INIT_STD)
        if self.map_embedder is not None:
            w = self.map_embedder.weight
            nn.init.xavier_uniform_(w.view(w.shape[0], -1))
            nn.init.zeros_(self.map_embedder.bias)

    def forward(self, conds: Mapping[str, Tensor], batch: int) -> Tensor:
        """Prefix tokens (B, P, D) of ``conds`` for a batch of ``batch`` (an absent condition is
        its null), in the dtype and on the device of the weights."""
        like = torch.empty(
            (batch, 0, *self.map_shape), device=self.pos_embed.device, dtype=self.pos_embed.dtype
        )  # tells the embedders the batch, the map side, the device and the dtype
        tokens = []
        if self.vector_embedders is not None:
            tokens += self.vector_embedders.tokens(conds, like)  # (B, 1, D) each
        if self.map_embedder is not None:
            maps = map_input(conds, self.specs, like)  # (B, ΣC, h, w)
            if tuple(maps.shape[-2:]) != self.map_shape:
                raise ValueError(
                    f"maps of {maps.shape[-2]}×{maps.shape[-1]} given to a model built for "
                    f"{self.map_shape[0]}×{self.map_shape[1]} maps (its map_size)"
                )
            patches = self.map_embedder(maps)  # (B, D, h/p, w/p)
            tokens.append(patches.flatten(2).transpose(1, 2))  # (B, h·w/p², D)
        if self.text is not None:
            tokens.append(self.text(conds, batch, like.device).hidden)  # (B, ΣL, D)
        return torch.cat(tokens, dim=1).to(self.pos_embed.dtype) + self.pos_embed  # (B, P, D)


def prefix_for(cfg) -> ConditionPrefix | None:
    """The prefix embedder of a token model's config (``conditions``, ``width``, ``map_shape``,
    ``map_patch``), or None for a model without named conditions."""
    if not cfg.conditions:
        return None
    return ConditionPrefix(cfg.conditions, cfg.width, cfg.map_shape, cfg.map_patch)
