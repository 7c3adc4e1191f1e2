"""Autoregressive families: a causal token model over pixels, or over the codes of a VQ tokenizer.

Both train by exact next-token cross-entropy and sample one token at a time with a KV cache
(:func:`trigen.autoregressive.generate.generate`). The network follows the stream convention of
``trigen.models.ar_transformer``: ``net(x[:, :-1], y)`` → logits (B, L, V) predicting every x_i.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from trigen.families.labels import ClassConditioning


def sequence_nll(
    net: nn.Module, tokens: Tensor, labels: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
) -> Tensor:
    """Exact NLL in nats (B,) of token sequences (B, L) under ``net`` given classes (B,) and
    named conditions (passed to the net only when there are any)."""
    extra = (None, conds) if conds else ()  # net(tokens, y, cache, conds)
    logits = net(tokens[:, :-1], labels, *extra)  # (B, L, V): the last token is only a target
    return token_nll(logits, tokens)


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


class _SequenceLikelihood:
    """``loss``/``nll`` shared by the token families: the NLL of ``self.tokens(images)`` in nats per
    image (B,), with label and condition dropout in ``loss`` only. What the tokens are (pixels or
    VQ codes) and so what the number means is the subclass's business (``nll_is_pixel_exact``)."""

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float
    conditions: tuple[ConditionSpec, ...]

    def __post_init__(self) -> None:
        self.conditions = tuple(self.conditions)
        self.conditioning = ClassConditioning(self.num_classes, self.label_dropout, self.conditions)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images, and of the map conditions."""
        return self.image_shape[1], self.image_shape[2]

    def tokens(self, images: Tensor) -> Tensor:
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


class PixelTokens:
    """The pixels of images ``image_shape`` (C, H, W) as one token sequence: C·H·W sub-pixels
    of 256 levels, channel-interleaved in raster order. A family built on it provides
    ``sample_tokens(labels, spec, generator) → (B, L)``; ``sample`` turns them into images."""

    image_shape: tuple[int, int, int]

    @property
    def seq_len(self) -> int:
        c, h, w = self.image_shape
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
class AutoregressiveFamily(PixelTokens, _SequenceLikelihood):
    """A token model over the pixels of images ``image_shape`` (C, H, W): 256 levels per sub-pixel.

    ``loss`` and ``nll`` are the exact NLL in nats per image of the 8-bit images (sum over the
    C·H·W sub-pixels); ``loss`` replaces labels by the null class with ``label_dropout`` so
    that classifier-free guidance works at sampling time.
    """

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    conditioning: ClassConditioning = field(init=False, repr=False)

    nll_is_pixel_exact: ClassVar[bool] = True
    """``nll`` is the exact likelihood of the 8-bit images, so bits/dim is meaningful."""


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
    (``nll_is_pixel_exact = False``).
    """

    net: nn.Module
    tokenizer: Tokenizer
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    conditioning: ClassConditioning = field(init=False, repr=False)

    nll_is_pixel_exact: ClassVar[bool] = False
    """``nll`` is the NLL of the VQ codes, not of the pixels: never convert it to bits/dim."""
