"""The diffusion family: a backbone ``net(x_t, t, y)`` meets schedule, objective and samplers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS, Batch
from trigen.conditions import ConditionSpec, Guidance
from trigen.diffusion.likelihood import elbo_nats
from trigen.diffusion.objectives import FLOW_MIN_SNR, diffusion_loss
from trigen.diffusion.precond import Objective, Precond, objective_of, precond_for
from trigen.diffusion.process import Prediction, parse_prediction
from trigen.diffusion.samplers import (
    SAMPLER_OPTIONS,
    Denoiser,
    Sampler,
    StepCallback,
    nfe,
    parse_sampler,
    solve,
)
from trigen.diffusion.schedules import FlowSchedule, NoiseSchedule, Schedule, Spacing, parse_spacing
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.families.capabilities import (
    ELBO,
    NO_LIKELIHOOD,
    CostProbe,
    FamilyDefaults,
    InputGradientProbe,
    Likelihood,
)
from trigen.families.labels import ClassConditioning
from trigen.guidance import NO_GUIDANCE
from trigen.models.dit_config import DiTConfig
from trigen.models.unet_config import UNetConfig
from trigen.rng import randn_like

__all__ = ["DiffusionFamily", "nfe"]

PROBE_TIMESTEP = 500.0
"""The timestep a probed denoiser is called at (mid-schedule): receptive fields are taken there,
and a call's cost is the same at every t."""
PROBE_NOISE = 0.5
"""Std of the noise added to the test images a denoiser's receptive field is read on."""

DATA_RANGE = (-1.0, 1.0)
"""Images live in [-1, 1]; x̂₀ and final samples are clamped to it."""
SAMPLER_GRIDS = {Sampler.HEUN: Spacing.KARRAS}
"""Default σ grids of the samplers that need their own: Heun's trapezoid correction multiplies
the error of large σ ratios, so it runs on EDM's grid. The others use the family's ``spacing``."""
FLOW_HAS_NO_ELBO = (
    "flow-matching models have no likelihood bound in trigen (the DDPM ELBO needs a VP noise "
    "schedule; a flow's exact likelihood needs an ODE trace estimate): compare them by FID, or "
    "train with objective = diffusion for bits/dim"
)


@dataclass
class DiffusionFamily(FamilyDefaults):
    """U-Net or DiT diffusion or flow matching: ``net(x_t (B,C,H,W), t (B,) float32, y (B,)
    int64)`` returns C channels (ε, v or x₀ as ``prediction`` says) or 2C (learned σ; only the
    first C are used). ``num_classes`` 0 is unconditional; the null class index is
    ``num_classes``.

    ``schedule`` picks the objective (:func:`~trigen.diffusion.precond.objective_of`): a VP
    :class:`NoiseSchedule` trains denoising diffusion (t ∈ [0, T)), a :class:`FlowSchedule`
    flow matching (t = 1000·t_flow; ``prediction`` v is the velocity ε − x₀). The network's
    input and output scalings at each noise level are the preconditioner's (``precond``).

    ``nll_num_t`` None evaluates all T terms of the ELBO; an int uses that many Monte-Carlo
    timesteps per image. ``spacing`` is the σ grid of the samplers without one of their own
    (:data:`SAMPLER_GRIDS`) when a :class:`SampleSpec` names none. ``clip_denoised`` clamps x̂₀
    to the data range inside the samplers (DDPM's convention; it helps few-step sampling).
    ``data_range`` is that range, also applied to the final samples and to x̂₀ in the ELBO; None
    leaves them unclamped (latents of an autoencoder are not bounded).
    """

    net: nn.Module
    schedule: Schedule
    prediction: Prediction
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    min_snr_gamma: float | None = None
    nll_num_t: int | None = None
    spacing: Spacing = Spacing.TRAILING
    clip_denoised: bool = True
    data_range: tuple[float, float] | None = DATA_RANGE
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    precond: Precond = field(init=False, repr=False)
    conditioning: ClassConditioning = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prediction = parse_prediction(self.prediction)
        self.spacing = parse_spacing(self.spacing)
        self.image_shape = tuple(int(d) for d in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be (C, H, W), got {self.image_shape}")
        if not isinstance(self.schedule, NoiseSchedule | FlowSchedule):
            raise ConfigError(
                f"schedule must be a NoiseSchedule or FlowSchedule, got {self.schedule}"
            )
        self.conditioning = ClassConditioning(
            self.num_classes, self.label_dropout, tuple(self.conditions)
        )
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise ConfigError(f"min_snr_gamma must be > 0 (or None), got {self.min_snr_gamma}")
        if self.min_snr_gamma is not None and self.objective is Objective.FLOW:
            raise ConfigError(FLOW_MIN_SNR)
        if self.nll_num_t is not None and self.nll_num_t < 1:
            raise ConfigError(f"nll_num_t must be ≥ 1 (or None for all T), got {self.nll_num_t}")
        self.precond = precond_for(self.schedule, self.prediction)

    @property
    def objective(self) -> Objective:
        return objective_of(self.schedule)

    @property
    def likelihood(self) -> Likelihood:
        """:meth:`nll` gives a bound (the VP ELBO); flow matching has none."""
        return ELBO if self.objective is Objective.DIFFUSION else NO_LIKELIHOOD

    @property
    def null_class(self) -> int:
        return self.conditioning.null_class

    def _net_out(
        self, x_t: Tensor, t: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """The net's first C output channels, in the dtype of ``x_t``; ``conds`` (named
        conditions) are passed only when there are any, so class-only nets need no such input."""
        dtype = next(self.net.parameters(), x_t).dtype
        extra = (conds,) if conds else ()
        out = self.net(x_t.to(dtype), t.float(), y, *extra)
        return out[:, : self.image_shape[0]].to(x_t.dtype)

    @property
    def _image_size(self) -> tuple[int, int]:
        return self.image_shape[1], self.image_shape[2]

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example loss (B,); labels are replaced by the null class with probability
        ``label_dropout`` (drawn first from ``generator``), then the noise level and the noise
        are drawn (:func:`~trigen.diffusion.objectives.diffusion_loss`)."""
        y, conds = self.conditioning.train_inputs(batch, generator, self._image_size)
        return diffusion_loss(
            partial(self._net_out, conds=conds),
            batch.images,
            y,
            self.schedule,
            self.prediction,
            min_snr_gamma=self.min_snr_gamma,
            generator=generator,
        )

    def _clip(self, x0: Tensor) -> Tensor:
        return x0 if self.data_range is None else x0.clamp(*self.data_range)

    def denoiser(
        self, labels: Tensor, cfg: float | Guidance = NO_GUIDANCE,
        conds: Mapping[str, Tensor] = NO_CONDITIONS,
    ) -> Denoiser:  # fmt: skip
        """The σ-space denoiser D(x, σ) → x̂₀ for class ``labels`` (B,) and checked named
        ``conds``, guided with scale ``cfg`` (or a :class:`~trigen.conditions.Guidance`).

        The net sees c_in(σ)·x, what it saw in training, at c_noise(σ) (``precond``). Guidance
        acts on x̂₀, which is affine in the net's output with coefficients shared by the two
        halves, so it equals guidance on the raw output; x̂₀ is clamped after guidance.
        """

        guidance = cfg if isinstance(cfg, Guidance) else Guidance(cfg)

        def denoise(x: Tensor, sigma: Tensor) -> Tensor:
            fn = partial(self._x0, sigma=sigma)
            x0 = self.conditioning.guided(fn, labels, conds, guidance)(x)
            return self._clip(x0) if self.clip_denoised else x0

        return denoise

    def _x0(
        self, x: Tensor, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS, *, sigma: Tensor
    ) -> Tensor:
        """x̂₀ of the preconditioned net at σ (B,), unclipped."""
        sigma = sigma.repeat(x.shape[0] // sigma.shape[0])  # x may be x ‖ x (guidance)
        return self.precond.denoise(partial(self._net_out, conds=conds), x, sigma, y)

    def grid(self, sampler: Sampler, grid: Spacing | str | None = None) -> Spacing:
        """The σ grid ``sampler`` runs on: ``grid`` when given (validated here), else the
        sampler's own default from :data:`SAMPLER_GRIDS`, else the family's ``spacing``."""
        if grid is not None:
            return parse_spacing(grid)
        return SAMPLER_GRIDS.get(sampler, self.spacing)

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """What :meth:`sample` reads of ``spec``: the sampler, its steps and σ grid, guidance,
        the options of that sampler (:data:`SAMPLER_OPTIONS`), and ``rho`` on the karras grid."""
        sampler = parse_sampler(spec.sampler)
        taken = {"sampler", "steps", "grid", "cfg", "guidance", *SAMPLER_OPTIONS.get(sampler, ())}
        if self.grid(sampler, spec.grid) is Spacing.KARRAS:
            taken.add("rho")
        return frozenset(taken)

    @torch.no_grad()
    def sample(
        self,
        labels: Tensor,
        spec: SampleSpec,
        generator: torch.Generator | None = None,
        *,
        conds: Mapping[str, Tensor] | None = None,
        callback: StepCallback | None = None,
    ) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] for ``labels`` (B,), with ``spec.sampler`` over
        ``spec.steps`` steps of the σ grid :meth:`grid` picks (NFE from :func:`nfe`); the starting
        noise comes from ``generator``. ``callback`` sees every step (σ, x, x̂₀: for progress, or
        to watch x̂₀ form).

        Start: the net's input is N(0, I) at the first grid σ₀, i.e. x = z / c_in(σ₀):
        sqrt(1 + σ₀²)·z for VP (DDPM's prior), (1 + σ₀)·z for flow (pure noise at t_max).
        """
        sampler = parse_sampler(spec.sampler)
        guidance = spec.guidance_plan
        labels, checked = self.conditioning.sampling_inputs(
            labels, conds, guidance, self._image_size
        )
        sigmas = self.schedule.sampling_sigmas(spec.steps, self.grid(sampler, spec.grid), spec.rho)
        shape = (labels.shape[0], *self.image_shape)
        z = randn_like(torch.empty(shape, device=labels.device), generator)
        x = z * self.precond.prior_scale(float(sigmas[0]))
        denoise = self.denoiser(labels, guidance, checked)
        options = spec.sampler_options.only_for(sampler)  # eta (DDIM), churn (Heun)
        x0 = solve(
            sampler, denoise, x, sigmas, generator=generator, options=options, callback=callback
        )
        return self._clip(x0)

    @torch.no_grad()
    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Upper bound (ELBO, Ho et al. 2020) on −log p(x₀ | y) in nats per image (B,), float64,
        for images discretised to 256 levels; x̂₀ is clamped to ``data_range``. Flow-matching
        models have no bound here: a ConfigError says so."""
        if not self.likelihood.exists:
            raise ConfigError(FLOW_HAS_NO_ELBO)
        y = self.conditioning.check(batch.labels)
        conds = self.conditioning.named(batch.conds, y, self._image_size)
        x0_fn = partial(self._elbo_x0, y=y, conds=conds)
        return elbo_nats(
            x0_fn, batch.images, self.schedule, num_t=self.nll_num_t, generator=generator
        )

    def _elbo_x0(
        self, x_t: Tensor, t: Tensor, *, y: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """x̂₀ from x_t = α_t·x₀ + σ_t·ε at training steps ``t`` (B,), as the ELBO asks for it:
        x = x_t / c_in(σ_t) in the σ view."""
        sigma = self.schedule.sigmas.to(t.device)[t]
        c_in = self.precond.scalings(sigma).c_in.view((-1,) + (1,) * (x_t.ndim - 1))
        net_out = partial(self._net_out, conds=conds)
        return self._clip(self.precond.denoise(net_out, x_t / c_in.to(x_t), sigma, y))

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """The sampler's network evaluations over ``spec.steps`` (:func:`nfe`), at any size."""
        return nfe(spec.sampler, spec.steps)

    def sampling_steps(self, spec: SampleSpec) -> int:
        """The σ-grid steps ``spec`` asks for (Heun evaluates the net twice in most)."""
        return spec.steps

    def sampler_description(self, spec: SampleSpec) -> str:
        return spec.sampler

    def with_nll_timesteps(self, timesteps: int) -> DiffusionFamily:
        """This family with ``timesteps`` Monte-Carlo timesteps per image in the ELBO."""
        return dataclasses.replace(self, nll_num_t=timesteps)

    def positions(self) -> int:
        """A transformer backbone's patches, or a convolutional backbone's pixels."""
        cfg = self.net.cfg
        if isinstance(cfg, DiTConfig):
            return cfg.grid**2
        return self.image_shape[1] * self.image_shape[2]

    def describe_network(self) -> str:
        c = self.net.cfg
        if isinstance(c, UNetConfig):
            widths = tuple(c.model_channels * m for m in c.channel_mult)
            return (
                f"widths {widths} at sides {c.level_sizes}, {c.num_res_blocks} res "
                f"blocks/level, attention at sides {c.attention_resolutions}"
            )
        if isinstance(c, DiTConfig):
            return (
                f"patch {c.patch_size} ({c.grid}×{c.grid} tokens), depth {c.depth}, "
                f"hidden {c.hidden}, heads {c.heads}" + (", rope" if c.rope else "")
            )
        return super().describe_network()

    def forward_probe(self) -> Callable[[], object]:
        """The backbone on one zero image of class 0 at :data:`PROBE_TIMESTEP`."""
        device = next(self.net.parameters()).device
        x = torch.zeros(1, *self.image_shape, device=device)
        t = torch.full((1,), PROBE_TIMESTEP, device=device)
        y = torch.zeros(1, dtype=torch.long, device=device)
        return lambda: self.net(x, t, y)

    def sampling_step_probe(self, labels: Tensor) -> CostProbe:
        """One denoiser call on noise; the sampler holds the current image."""
        x = torch.randn(labels.shape[0], *self.image_shape, device=labels.device)
        t = torch.full((labels.shape[0],), PROBE_TIMESTEP, device=labels.device)
        return CostProbe(lambda: self.net(x, t, labels), x.nbytes)

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> InputGradientProbe:
        """The backbone at :data:`PROBE_TIMESTEP` on the images with noise of
        :data:`PROBE_NOISE` added."""
        t = torch.full((images.shape[0],), PROBE_TIMESTEP, device=images.device)
        noisy = images + PROBE_NOISE * torch.randn_like(images)
        return InputGradientProbe(lambda x: self.net(x, t, labels), noisy)
