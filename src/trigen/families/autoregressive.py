"""Autoregressive families: a causal token model over pixels, or over the codes of a VQ tokenizer.

Both train by exact next-token cross-entropy and sample one token at a time with a KV cache
(:func:`trigen.autoregressive.generate.generate`). The network follows the stream convention of
``trigen.models.ar_transformer``: ``net(x[:, :-1], y)`` → logits (B, L, V) predicting every x_i.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from trigen.autoregressive.generate import generate
from trigen.autoregressive.objectives import token_nll
from trigen.autoregressive.pixels import images_to_tokens, tokens_to_images
from trigen.batch import NO_CONDITIONS, Batch
from trigen.conditions import ConditionSpec
from trigen.errors import DataError
from trigen.families.base import TOKEN_SAMPLING_OPTIONS, SampleSpec
from trigen.families.capabilities import (
    EXACT,
    TOKEN_NLL,
    CostProbe,
    FamilyDefaults,
    Likelihood,
    TokenGradientProbe,
)
from trigen.families.labels import ClassConditioning, Conditioned, ConditionedImageFamily


def sequence_nll(
    net: nn.Module, tokens: Tensor, labels: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
) -> Tensor:
    """Exact NLL in nats (B,) of token sequences (B, L) under ``net`` given classes (B,) and
    named conditions (passed to the net only when there are any)."""
    extra = (None, conds) if conds else ()  # net(tokens, y, cache, conds)
    logits = net(tokens[:, :-1], labels, *extra)  # (B, L, V): the last token is only a target
    return token_nll(logits, tokens)


def describe_token_network(family: FamilyDefaults) -> str:
    """The shape facts of a token transformer (its sequence, depth, width, heads, positions)."""
    c = family.net.cfg
    return (
        f"{c.seq_len} tokens, depth {c.depth}, width {c.width}, heads {c.heads}, "
        f"positions {c.positions.value}"
    )


def check_image_shape(images: Tensor, image_shape: tuple[int, int, int]) -> None:
    """Raise a DataError unless images (B, C, H, W) have the (C, H, W) a model was built for."""
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise DataError(
            f"images of shape {tuple(images.shape[1:])} given to a model of "
            f"{tuple(image_shape)}; use data at the resolution and channels it was built for"
        )


def sample_tokens(
    net: nn.Module, labels: Tensor, seq_len: int, conditioning: ClassConditioning,
    spec: SampleSpec, generator: torch.Generator | None, image_size: tuple[int, int],
    conds: Mapping[str, Tensor] | None = None,
) -> Tensor:  # fmt: skip
    """Token sequences (B, seq_len) sampled from ``net`` with the AR fields of ``spec``, guided
    by ``spec.guidance_plan`` over the class and the named ``conds`` (maps of ``image_size``)."""
    guidance = spec.guidance_plan
    labels, conds = conditioning.sampling_inputs(labels, conds, guidance, image_size)
    return generate(
        net, labels, seq_len=seq_len, generator=generator, temperature=spec.temperature,
        top_k=spec.top_k, top_p=spec.top_p, cfg=guidance, null_label=conditioning.null_class,
        conds=conds,
    )  # fmt: skip


class _SequenceLikelihood(Conditioned, FamilyDefaults):
    """``loss``/``nll`` shared by the token families: the NLL of ``self.tokens(images)`` in nats per
    image (B,), with label and condition dropout in ``loss`` only. What the tokens are (pixels or
    VQ codes) and so what the number means is the subclass's business (``likelihood``)."""

    net: nn.Module
    image_shape: tuple[int, int, int]

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images, and of the map conditions."""
        return self.image_shape[1], self.image_shape[2]

    def tokens(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def tokens_for(self, image_shape: tuple[int, int, int] | None = None) -> int:
        raise NotImplementedError

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        labels, conds = self.conditioning.train_inputs(batch, generator, self.image_size)
        return sequence_nll(self.net, self.tokens(batch.images), labels, conds)

    @torch.no_grad()
    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        labels = self.conditioning.check(batch.labels)
        conds = self.conditioning.named(batch.conds, labels, self.image_size)
        return sequence_nll(self.net, self.tokens(batch.images), labels, conds)

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """Guidance and the logits filters: one token at a time, no steps or sampler to choose."""
        return TOKEN_SAMPLING_OPTIONS

    def sample_tokens(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None,
        conds: Mapping[str, Tensor] | None = None,
    ) -> Tensor:  # fmt: skip
        """Token sequences (B, seq_len) for ``labels`` and ``conds`` (:func:`sample_tokens`)."""
        return sample_tokens(
            self.net, labels, self.seq_len, self.conditioning, spec, generator, self.image_size,
            conds,
        )  # fmt: skip

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """One network evaluation per token (:meth:`tokens_for`)."""
        return self.tokens_for(image_shape)

    def sampler_description(self, spec: SampleSpec) -> str:
        return "ancestral (KV cache)"

    describe_network = describe_token_network

    def forward_probe(self) -> Callable[[], object]:
        """The net on one zero sequence of class 0 (the last token is a target only)."""
        device = next(self.net.parameters()).device
        y = torch.zeros(1, dtype=torch.long, device=device)
        tokens = torch.zeros(1, self.seq_len, dtype=torch.long, device=device)
        return lambda: self.net(tokens[:, :-1], y)

    def sampling_step_probe(self, labels: Tensor) -> CostProbe:
        """The last decoding step, the one that attends over the whole KV cache (the peak); the
        sampler holds the cache and the tokens."""
        net, batch, device = self.net, labels.shape[0], labels.device
        seq_len = net.cfg.seq_len
        with torch.inference_mode():  # prefill the class token and all but the last token
            cache = net.new_cache(batch, device=device)
            tokens = torch.randint(0, net.cfg.vocab_size, (batch, seq_len), device=device)
            net(tokens[:, : seq_len - 2], labels, cache)
        full, last = cache.length, tokens[:, seq_len - 2 : seq_len - 1]

        def decode_last() -> Tensor:
            cache.length = full
            return net(last, labels, cache)

        return CostProbe(decode_last, cache.k.nbytes + cache.v.nbytes + tokens.nbytes)


class PixelTokens:
    """The pixels of images ``image_shape`` (C, H, W) as one token sequence: C·H·W sub-pixels
    of 256 levels, channel-interleaved in raster order. A family built on it provides
    ``sample_tokens(labels, spec, generator) → (B, L)``; ``sample`` turns them into images."""

    image_shape: tuple[int, int, int]

    @property
    def seq_len(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def tokens_for(self, image_shape: tuple[int, int, int] | None = None) -> int:
        """Tokens of an image of ``image_shape`` (default the family's): its sub-pixels."""
        c, h, w = image_shape or self.image_shape
        return c * h * w

    def tokens(self, images: Tensor) -> Tensor:
        """Pixel tokens (B, H·W·C) of images (B, C, H, W) in [-1, 1]."""
        check_image_shape(images, self.image_shape)
        return images_to_tokens(images)

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None, *,
        conds: Mapping[str, Tensor] | None = None,
    ) -> Tensor:  # fmt: skip
        """Images (B, C, H, W) in [-1, 1] from the family's token sampler, for ``labels`` and
        the named ``conds`` (an absent condition is its null)."""
        tokens = self.sample_tokens(labels, spec, generator, conds)  # type: ignore[attr-defined]
        return tokens_to_images(tokens, self.image_shape)


@dataclass
class AutoregressiveFamily(PixelTokens, _SequenceLikelihood, ConditionedImageFamily):
    """A token model over the pixels of images ``image_shape`` (C, H, W): 256 levels per sub-pixel.

    ``loss`` and ``nll`` are the exact NLL in nats per image of the 8-bit images (sum over the
    C·H·W sub-pixels); ``loss`` replaces labels by the null class with ``label_dropout`` so
    that classifier-free guidance works at sampling time.
    """

    likelihood: ClassVar[Likelihood] = EXACT
    """``nll`` is the exact likelihood of the 8-bit images, so bits/dim is meaningful."""

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> TokenGradientProbe:
        """The causal net over the images' pixel tokens."""
        return TokenGradientProbe(self.net, self.tokens(images), labels)


class Tokenizer(Protocol):
    """What :class:`VQTokenFamily` needs of a tokenizer (e.g. ``trigen.tokenizers.vqvae.VQVAE``)."""

    @property
    def token_grid(self) -> tuple[int, int]: ...

    def encode(self, images: Tensor) -> Tensor: ...

    def decode(self, indices: Tensor) -> Tensor: ...


class VQTokens:
    """The code grid (h, w) of a frozen VQ ``tokenizer`` of images ``image_shape`` as one token
    sequence. ``tokens`` takes images (encoded on the fly) or cached grids (integer dtype, from
    ``tokenize_dataset``); a family built on it provides ``sample_tokens(labels, spec,
    generator) → (B, h·w)`` and ``sample`` decodes them."""

    tokenizer: Tokenizer
    image_shape: tuple[int, int, int]

    @property
    def seq_len(self) -> int:
        h, w = self.tokenizer.token_grid
        return h * w

    def tokens_for(self, image_shape: tuple[int, int, int] | None = None) -> int:
        """Codes of an image of ``image_shape`` (default the family's): the tokenizer's grid,
        scaled with the image's sides."""
        h, w = self.tokenizer.token_grid
        if image_shape is None:
            return h * w
        _, height, width = self.image_shape
        return (image_shape[1] * h // height) * (image_shape[2] * w // width)

    def positions(self) -> int:
        """The codes of one image."""
        return self.seq_len

    def tokens(self, images: Tensor) -> Tensor:
        """Code sequences (B, h·w) int64 of images, or of cached grids (integer dtype)."""
        if not images.is_floating_point():
            if images.shape[0] and images[0].numel() != self.seq_len:
                raise DataError(
                    f"cached token grids of shape {tuple(images.shape[1:])} do not match the "
                    f"tokenizer's {self.tokenizer.token_grid}; re-run the tokenize step"
                )
            return images.reshape(images.shape[0], -1).long()
        check_image_shape(images, self.image_shape)
        with torch.no_grad():
            return self.tokenizer.encode(images).reshape(images.shape[0], -1).long()

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None, *,
        conds: Mapping[str, Tensor] | None = None,
    ) -> Tensor:  # fmt: skip
        """Images (B, C, H, W) in [-1, 1]: sample a code grid for ``labels`` and the named
        ``conds``, then decode it with the tokenizer."""
        tokens = self.sample_tokens(labels, spec, generator, conds)  # type: ignore[attr-defined]
        h, w = self.tokenizer.token_grid
        with torch.no_grad():
            return self.tokenizer.decode(tokens.view(-1, h, w)).clamp(-1, 1)


@dataclass
class VQTokenFamily(VQTokens, _SequenceLikelihood):
    """A token model over the code grids (h, w) of a frozen VQ ``tokenizer`` of images.

    ``loss`` takes either images (float (B, C, H, W), encoded on the fly) or cached token grids
    (an integer ``batch.images`` of shape (B, h, w) or (B, h·w), see ``tokenize_dataset``).
    ``nll`` is the TOKEN NLL in nats per image (sum over h·w codes): a number about the prior over
    codes, *not* the likelihood of the pixels, so it must not be reported as bits/dim
    (``likelihood`` is :data:`~trigen.families.capabilities.TOKEN_NLL`).
    """

    net: nn.Module
    tokenizer: Tokenizer
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    conditioning: ClassConditioning = field(init=False, repr=False)

    likelihood: ClassVar[Likelihood] = TOKEN_NLL
    """``nll`` is the NLL of the VQ codes, not of the pixels: never convert it to bits/dim."""
