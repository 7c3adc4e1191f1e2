"""The contract between a network's math (a family) and training, sampling and evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.conditions import Guidance
from trigen.diffusion.samplers import SamplerOptions
from trigen.diffusion.schedules import KARRAS_RHO
from trigen.families.capabilities import CostProbe, Likelihood, ReceptiveFieldProbe
from trigen.guidance import NO_GUIDANCE


@dataclass(frozen=True)
class SampleSpec:
    """How to sample; each family reads the fields that concern it and ignores the rest."""

    sampler: str = "ddim"  # diffusion: ddpm | ddim | dpmpp_2m | dpmpp_3m | heun
    steps: int = 50  # diffusion: number of denoiser evaluations' grid points
    eta: float = 0.0  # diffusion: DDIM stochasticity
    s_churn: float = 0.0  # diffusion: Heun's churn (EDM's S_churn); 0 = deterministic
    s_tmin: float = 0.0  # diffusion: Heun churns only where σ ≥ s_tmin
    s_tmax: float = math.inf  # diffusion: … and σ ≤ s_tmax
    s_noise: float = 1.0  # diffusion: std of Heun's churn noise (EDM's S_noise)
    grid: str | None = None  # diffusion: trailing | leading | linspace | karras; None = sampler's
    rho: float = KARRAS_RHO  # diffusion: ρ of the karras grid
    cfg: float = NO_GUIDANCE  # both: classifier-free guidance scale over all conditions
    # both: per-condition guidance instead, ((name, scale), …) nested in order ("class" too)
    guidance: tuple[tuple[str, float], ...] = ()
    temperature: float = 1.0  # autoregressive
    top_k: int | None = None  # autoregressive
    top_p: float | None = None  # autoregressive
    unmasking: str | None = None  # maskgit: confidence | random; None = the family's default

    @property
    def guidance_plan(self) -> Guidance:
        """The guidance this spec asks for (:class:`trigen.conditions.Guidance`)."""
        return Guidance(self.cfg, self.guidance)

    @property
    def sampler_options(self) -> SamplerOptions:
        """The diffusion sampler's own settings, for :func:`trigen.diffusion.samplers.solve`."""
        return SamplerOptions(
            eta=self.eta,
            s_churn=self.s_churn,
            s_tmin=self.s_tmin,
            s_tmax=self.s_tmax,
            s_noise=self.s_noise,
        )


TOKEN_SAMPLING_OPTIONS = frozenset({"cfg", "guidance", "temperature", "top_k", "top_p"})
"""The :class:`SampleSpec` fields a family that draws tokens from logits reads: guidance and the
logits filters (:mod:`trigen.autoregressive.filters`)."""


@runtime_checkable
class Family(Protocol):
    """A generator family: a network plus the math that trains it and samples from it.

    Attributes: ``net`` (the trainable module), ``num_classes`` (0 = unconditional; the null class
    index equals ``num_classes``), ``image_shape`` (C, H, W).

    Beside training and sampling, a family says what it can do, so that measurement, report and
    CLI code ask it rather than its name (:mod:`trigen.families.capabilities`;
    :class:`~trigen.families.capabilities.FamilyDefaults` has every answer's default).
    """

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]
    likelihood: Likelihood  # what ``nll`` measures: exact, a bound, codes, nothing
    draws_samples: bool  # whether ``sample`` draws images
    seq_len: int | None  # tokens of the sequence a token model decodes per image, else None

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example training loss (B,); label dropout for guidance happens here."""
        ...

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None
    ) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] for class indices ``labels`` (B,); null = uncond."""
        ...

    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Negative log-likelihood in nats per image (B,) of the images discretised to 256 levels:
        exact for AR, an upper bound (ELBO) for diffusion."""
        ...

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """The :class:`SampleSpec` fields ``sample(labels, spec)`` reads; it ignores the others.
        The answer may depend on ``spec`` itself: DDIM reads ``eta`` where Heun reads its churn,
        and ``rho`` shapes the karras grid only."""
        ...

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """Network evaluations to sample one image of ``image_shape`` (default the family's own)
        under ``spec``: the sampler's for diffusion, one per token for autoregression, the
        decoding steps (at most one per token) for masked decoding."""
        ...

    def sampling_steps(self, spec: SampleSpec) -> int:
        """The sampler's steps under ``spec``: the σ-grid steps for diffusion, the NFE else."""
        ...

    def sampler_description(self, spec: SampleSpec) -> str:
        """How the family samples under ``spec``, in words for the report."""
        ...

    def with_nll_timesteps(self, timesteps: int) -> Family:
        """The family whose ``nll`` draws ``timesteps`` Monte-Carlo timesteps per image where it
        estimates a bound over timesteps (the diffusion ELBO); the same family otherwise."""
        ...

    def positions(self) -> int:
        """Positions the network processes per image (patches, pixels or sub-pixel tokens)."""
        ...

    def describe_network(self) -> str:
        """The shape facts of ``net`` that drive its cost, in words."""
        ...

    def forward_probe(self) -> Callable[[], object] | None:
        """One training-shape forward pass of ``net`` on a single image, to count; or None."""
        ...

    def sampling_step_probe(self, labels: Tensor) -> CostProbe | None:
        """One sampling step at ``len(labels)`` images and the state held beside it; or None."""
        ...

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> ReceptiveFieldProbe | None:
        """What the receptive field of ``net`` is read from on ``images``; or None."""
        ...
