"""The diffusion family: a backbone ``net(x_vp, t, y)`` meets schedule, objective and samplers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.diffusion._rng import rand, randn_like
from trigen.diffusion.likelihood import elbo_nats
from trigen.diffusion.objectives import diffusion_loss
from trigen.diffusion.process import (
    Prediction,
    alpha_sigma,
    parse_prediction,
    prediction_to_x0,
)
from trigen.diffusion.samplers import SAMPLERS, Denoiser, Sampler, nfe, parse_sampler
from trigen.diffusion.schedules import NoiseSchedule, Spacing, parse_spacing
from trigen.errors import ConfigError, DataError
from trigen.families.base import SampleSpec
from trigen.guidance import NO_GUIDANCE, guided

__all__ = ["DiffusionFamily", "nfe"]

DATA_RANGE = (-1.0, 1.0)
"""Images live in [-1, 1]; x̂₀ and final samples are clamped to it."""
SAMPLER_GRIDS = {Sampler.HEUN: Spacing.KARRAS}
"""Default σ grids of the samplers that need their own: Heun's trapezoid correction multiplies
the error of large σ ratios, so it runs on EDM's grid. The others use the family's ``spacing``."""


@dataclass
class DiffusionFamily:
    """U-Net or DiT diffusion: ``net(x_vp (B,C,H,W), t (B,) float32 in [0, T), y (B,) int64)``
    returns C channels (ε, v or x₀ as ``prediction`` says) or 2C (learned σ; only the first C
    are used). ``num_classes`` 0 is unconditional; the null class index is ``num_classes``.

    ``nll_num_t`` None evaluates all T terms of the ELBO; an int uses that many Monte-Carlo
    timesteps per image. ``spacing`` is the σ grid of the samplers without one of their own
    (:data:`SAMPLER_GRIDS`) when a :class:`SampleSpec` names none. ``clip_denoised`` clamps x̂₀
    to the data range inside the samplers (DDPM's convention; it helps few-step sampling).
    ``data_range`` is that range, also applied to the final samples; None leaves both unclamped
    (latents of an autoencoder are not bounded).
    """

    net: nn.Module
    schedule: NoiseSchedule
    prediction: Prediction
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    min_snr_gamma: float | None = None
    nll_num_t: int | None = None
    spacing: Spacing = Spacing.TRAILING
    clip_denoised: bool = True
    data_range: tuple[float, float] | None = DATA_RANGE

    def __post_init__(self) -> None:
        self.prediction = parse_prediction(self.prediction)
        self.spacing = parse_spacing(self.spacing)
        self.image_shape = tuple(int(d) for d in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be (C, H, W), got {self.image_shape}")
        if self.num_classes < 0:
            raise ConfigError(
                f"num_classes must be ≥ 0 (0 = unconditional), got {self.num_classes}"
            )
        if not 0.0 <= self.label_dropout < 1.0:
            raise ConfigError(f"label_dropout must be in [0, 1), got {self.label_dropout}")
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise ConfigError(f"min_snr_gamma must be > 0 (or None), got {self.min_snr_gamma}")
        if self.nll_num_t is not None and self.nll_num_t < 1:
            raise ConfigError(f"nll_num_t must be ≥ 1 (or None for all T), got {self.nll_num_t}")

    @property
    def null_class(self) -> int:
        return self.num_classes

    def _net_out(self, x_vp: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """The net's first C output channels, in the dtype of ``x_vp``."""
        dtype = next(self.net.parameters(), x_vp).dtype
        out = self.net(x_vp.to(dtype), t.float(), y)
        return out[:, : self.image_shape[0]].to(x_vp.dtype)

    def _labels(self, labels: Tensor) -> Tensor:
        """Unconditional models see only the null class."""
        if self.num_classes == 0:
            return torch.full_like(labels, self.null_class)
        return labels

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example denoising loss (B,); labels are replaced by the null class with probability
        ``label_dropout`` (drawn first from ``generator``), then t and the noise are drawn."""
        x0, y = batch.images, self._labels(batch.labels)
        if self.num_classes > 0 and self.label_dropout > 0:
            drop = rand(y.shape[0], y, generator) < self.label_dropout
            y = torch.where(drop, torch.full_like(y, self.null_class), y)
        return diffusion_loss(
            self._net_out,
            x0,
            y,
            self.schedule,
            self.prediction,
            min_snr_gamma=self.min_snr_gamma,
            generator=generator,
        )

    def denoiser(self, labels: Tensor, cfg: float = NO_GUIDANCE) -> Denoiser:
        """The σ-space denoiser D(x, σ) → x̂₀ for class ``labels`` (B,), guided with scale ``cfg``.

        x_vp = x/sqrt(1 + σ²) is what the net saw in training, at t = schedule.sigma_to_t(σ).
        Guidance acts on x̂₀, which is affine in the net's ε/v/x₀ output with coefficients shared by
        the two halves, so it equals guidance on the raw output.
        """

        def x0_of(x: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
            shape = (-1,) + (1,) * (x.ndim - 1)
            s = sigma.to(torch.float64).view(shape)
            alpha, sigma_vp = (1 + s**2).rsqrt(), s * (1 + s**2).rsqrt()
            alpha, sigma_vp = alpha.to(x.dtype), sigma_vp.to(x.dtype)
            x_vp = x * alpha
            t = self.schedule.sigma_to_t(sigma).float()
            return prediction_to_x0(
                self.prediction, self._net_out(x_vp, t, y), x_vp, alpha, sigma_vp
            )

        def denoise(x: Tensor, sigma: Tensor) -> Tensor:
            def fn(x_in: Tensor, y: Tensor) -> Tensor:  # x_in is x, or x ‖ x under guidance
                return x0_of(x_in, sigma.repeat(x_in.shape[0] // sigma.shape[0]), y)

            x0 = guided(fn, labels, self.null_class, cfg)(x)
            if not self.clip_denoised or self.data_range is None:
                return x0
            return x0.clamp(*self.data_range)

        return denoise

    def _check_labels(self, labels: Tensor, spec: SampleSpec) -> None:
        if labels.ndim != 1 or labels.dtype != torch.int64:
            raise DataError(f"labels must be int64 (B,), got {labels.dtype} {tuple(labels.shape)}")
        if self.num_classes == 0 and spec.cfg != NO_GUIDANCE:
            raise ConfigError(
                f"cfg={spec.cfg} needs a class-conditional model; this one is unconditional "
                f"(num_classes 0): use cfg={NO_GUIDANCE}"
            )
        if labels.numel() and (labels.min() < 0 or labels.max() > self.num_classes):
            raise DataError(
                f"labels must be in 0..{self.num_classes} ({self.num_classes} = null class), "
                f"got {int(labels.min())}..{int(labels.max())}"
            )

    def grid(self, sampler: Sampler, grid: Spacing | str | None = None) -> Spacing:
        """The σ grid ``sampler`` runs on: ``grid`` when given (validated here), else the
        sampler's own default from :data:`SAMPLER_GRIDS`, else the family's ``spacing``."""
        if grid is not None:
            return parse_spacing(grid)
        return SAMPLER_GRIDS.get(sampler, self.spacing)

    @torch.no_grad()
    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None
    ) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] for ``labels`` (B,), with ``spec.sampler`` over
        ``spec.steps`` steps of the σ grid :meth:`grid` picks (NFE from :func:`nfe`); the starting
        noise comes from ``generator``.

        Start: x_vp ~ N(0, I) at the first grid σ (DDPM's prior), i.e. x = sqrt(1 + σ₀²)·z.
        """
        sampler = parse_sampler(spec.sampler)
        self._check_labels(labels, spec)
        sigmas = self.schedule.sampling_sigmas(spec.steps, self.grid(sampler, spec.grid), spec.rho)
        shape = (labels.shape[0], *self.image_shape)
        z = randn_like(torch.empty(shape, device=labels.device), generator)
        x = z * math.sqrt(1.0 + float(sigmas[0]) ** 2)
        kwargs = {"eta": spec.eta} if sampler is Sampler.DDIM else {}
        denoise = self.denoiser(self._labels(labels), spec.cfg)
        x0 = SAMPLERS[sampler](denoise, x, sigmas, generator=generator, **kwargs)
        return x0 if self.data_range is None else x0.clamp(*self.data_range)

    @torch.no_grad()
    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Upper bound (ELBO, Ho et al. 2020) on −log p(x₀ | y) in nats per image (B,), float64,
        for images discretised to 256 levels; x̂₀ is clamped to [-1, 1]."""
        x0, y = batch.images, self._labels(batch.labels)

        def x0_fn(x_t: Tensor, t: Tensor) -> Tensor:
            alpha, sigma = alpha_sigma(self.schedule, t, x_t)
            x0_hat = prediction_to_x0(self.prediction, self._net_out(x_t, t, y), x_t, alpha, sigma)
            return x0_hat.clamp(*DATA_RANGE)

        return elbo_nats(x0_fn, x0, self.schedule, num_t=self.nll_num_t, generator=generator)
