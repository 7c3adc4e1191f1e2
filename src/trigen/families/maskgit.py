"""Masked parallel decoding families (MaskGIT): a bidirectional token model over pixels, or over
the codes of a VQ tokenizer.

Both train to predict masked tokens under the cosine mask schedule and sample in K steps
(``SampleSpec.steps``), many tokens per step, by confidence
(:mod:`trigen.autoregressive.maskgit`). The network (``trigen.models.maskgit.MaskGIT``) maps
tokens with [MASK]s and classes to logits at every position.

``nll`` is NOT an exact likelihood: a masked-token model defines no normalised density by
itself. It is a Monte-Carlo estimate of the order-agnostic upper bound on −log p(x) of the same
network read as a one-token-at-a-time decoder in a uniformly random order (ARDM, Hoogeboom et
al. 2022), which the K-step confidence sampler does not follow. Report it as a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from trigen.autoregressive import maskgit
from trigen.batch import NO_CONDITIONS, Batch
from trigen.conditions import ConditionSpec
from trigen.errors import ConfigError
from trigen.families.autoregressive import (
    PixelTokens,
    Tokenizer,
    VQTokens,
    describe_token_network,
)
from trigen.families.base import TOKEN_SAMPLING_OPTIONS, SampleSpec
from trigen.families.capabilities import CostProbe, FamilyDefaults, Likelihood, Scored
from trigen.families.labels import ClassConditioning, Conditioned, ConditionedImageFamily

NLL_SAMPLES = 4
"""Monte-Carlo draws (mask size and mask) per image of the order-agnostic bound in ``nll``."""

NLL_KIND = "order-agnostic upper bound (masked-token loss is not an exact likelihood)"
"""What ``nll`` reports, in words for eval and compare."""


class _MaskedTokens(Conditioned, FamilyDefaults):
    """``loss`` / ``nll`` / token sampling shared by the masked-token families; what the tokens
    are (pixels or VQ codes) is the subclass's ``tokens`` / ``seq_len``."""

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float
    choice_temperature: float
    nll_samples: int
    conditions: tuple[ConditionSpec, ...]

    default_unmasking: ClassVar[maskgit.Unmasking]
    """The decoding order when ``SampleSpec.unmasking`` is None."""

    default_steps: ClassVar[int] = maskgit.DEFAULT_STEPS
    """Decoding steps K when the caller names none (a diffusion sampler's 50 would be most of
    a small image's tokens)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.choice_temperature < 0:
            raise ConfigError(f"choice_temperature must be ≥ 0, got {self.choice_temperature}")
        if self.nll_samples < 1:
            raise ConfigError(f"nll_samples must be ≥ 1, got {self.nll_samples}")

    @property
    def seq_len(self) -> int:
        raise NotImplementedError

    def tokens(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def tokens_for(self, image_shape: tuple[int, int, int] | None = None) -> int:
        raise NotImplementedError

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images, and of the map conditions."""
        return self.image_shape[1], self.image_shape[2]

    def _logits(
        self, tokens: Tensor, labels: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """The net's logits (B, L, V); named conditions passed only when there are any."""
        return self.net(tokens, labels, *((conds,) if conds else ()))

    @property
    def mask_token(self) -> int:
        """Input index of [MASK], one past the data vocabulary; read through a
        DistributedDataParallel wrapper (the trainer's ``net`` under torchrun) too."""
        return getattr(self.net, "module", self.net).cfg.mask_token

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Mean cross-entropy in nats per masked token (B,), ``⌈cos(π r / 2) · L⌉`` tokens
        masked per image (r ~ U(0, 1)); labels and named conditions dropped to their nulls with
        ``label_dropout`` (:meth:`~trigen.families.labels.ClassConditioning.train_inputs`)."""
        labels, conds = self.conditioning.train_inputs(batch, generator, self.image_size)
        targets = self.tokens(batch.images)  # (B, L)
        mask = maskgit.training_mask(targets.shape[0], targets.shape[1], targets, generator)
        masked = torch.where(mask, self.mask_token, targets)
        logits = self._logits(masked, labels, conds)  # (B, L, V)
        return maskgit.masked_token_loss(logits, targets, mask)

    @torch.no_grad()
    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Order-agnostic UPPER BOUND on −log p in nats per image (B,) of the tokens, the mean of
        ``nll_samples`` Monte-Carlo draws (module docstring): not an exact likelihood."""
        labels = self.conditioning.check(batch.labels)
        conds = self.conditioning.named(batch.conds, labels, self.image_size)
        targets = self.tokens(batch.images)

        def logits_of(tokens: Tensor) -> Tensor:
            return self._logits(tokens, labels, conds)

        draws = [
            maskgit.order_agnostic_bound(logits_of, targets, self.mask_token, generator)
            for _ in range(self.nll_samples)
        ]
        return torch.stack(draws).mean(dim=0)

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """The decoding steps K and order, guidance and the logits filters."""
        return TOKEN_SAMPLING_OPTIONS | {"steps", "unmasking"}

    def sample_tokens(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None,
        conds: Mapping[str, Tensor] | None = None,
    ) -> Tensor:  # fmt: skip
        """Token sequences (B, L) for ``labels`` and the named ``conds`` in ``spec.steps``
        decoding steps (capped at L), with ``spec.temperature`` / ``top_k`` / ``top_p``, guidance
        ``spec.guidance_plan`` and the order ``spec.unmasking`` (the family's
        ``default_unmasking`` when None)."""
        guidance = spec.guidance_plan
        labels, conds = self.conditioning.sampling_inputs(labels, conds, guidance, self.image_size)
        logits_of = self.conditioning.guided(self._logits, labels, conds, guidance)
        with torch.inference_mode():
            return maskgit.decode(
                logits_of, labels.shape[0], self.seq_len, self.mask_token, steps=spec.steps,
                generator=generator, device=labels.device, temperature=spec.temperature,
                top_k=spec.top_k, top_p=spec.top_p, choice_temperature=self.choice_temperature,
                unmasking=spec.unmasking or self.default_unmasking,  # decode parses it
            )  # fmt: skip

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """The decoding steps K, at most one per token."""
        return min(spec.steps, self.tokens_for(image_shape))

    def sampler_description(self, spec: SampleSpec) -> str:
        return f"parallel decoding, {spec.unmasking or self.default_unmasking} order"

    describe_network = describe_token_network

    def forward_probe(self) -> Callable[[], object]:
        """The net on one zero sequence of class 0."""
        device = next(self.net.parameters()).device
        y = torch.zeros(1, dtype=torch.long, device=device)
        tokens = torch.zeros(1, self.seq_len, dtype=torch.long, device=device)
        return lambda: self.net(tokens, y)

    def sampling_step_probe(self, labels: Tensor) -> CostProbe:
        """One decoding step, which reads every token at once (all [MASK] here)."""
        shape = (labels.shape[0], self.net.cfg.seq_len)
        tokens = torch.full(shape, self.mask_token, device=labels.device)
        return CostProbe(lambda: self.net(tokens, labels), tokens.nbytes)


@dataclass
class MaskGITFamily(PixelTokens, _MaskedTokens, ConditionedImageFamily):
    """A masked-token model over the pixels of images ``image_shape`` (C, H, W), 256 levels per
    sub-pixel; ``nll`` is the order-agnostic bound in nats per image (sum over C·H·W). The
    decoding options are keyword-only, after the fields of every pixel family."""

    choice_temperature: float = field(default=maskgit.DEFAULT_CHOICE_TEMPERATURE, kw_only=True)
    nll_samples: int = field(default=NLL_SAMPLES, kw_only=True)

    likelihood: ClassVar[Likelihood] = Likelihood(Scored.PIXELS, exact=False, kind=NLL_KIND)
    """Neither exact nor a token NLL: a bound on the pixels' NLL."""
    default_unmasking: ClassVar[maskgit.Unmasking] = maskgit.Unmasking.RANDOM
    """Pixels decode in random order: confidence ranking fixes the background first
    (:class:`~trigen.autoregressive.maskgit.Unmasking` has the figures)."""


@dataclass
class MaskGITVQFamily(VQTokens, _MaskedTokens):
    """A masked-token model over the code grids (h, w) of a frozen VQ ``tokenizer``.

    ``loss`` takes images or cached token grids, as :class:`VQTokenFamily`; ``nll`` bounds the
    NLL of the CODES, not of the pixels: never report it as bits/dim.
    """

    net: nn.Module
    tokenizer: Tokenizer
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    choice_temperature: float = maskgit.DEFAULT_CHOICE_TEMPERATURE
    nll_samples: int = NLL_SAMPLES
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    conditioning: ClassConditioning = field(init=False, repr=False)

    likelihood: ClassVar[Likelihood] = Likelihood(Scored.CODES, exact=False, kind=NLL_KIND)
    """``nll`` bounds the VQ codes' NLL, not the pixels': never convert it to bits/dim."""
    default_unmasking: ClassVar[maskgit.Unmasking] = maskgit.Unmasking.CONFIDENCE
    """VQ codes decode in MaskGIT's own order (the paper's, for codes of a tokenizer)."""
