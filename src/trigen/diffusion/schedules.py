"""Noise schedules in the σ view of the samplers: discrete VP (DDPM) tables and the flow path.

Samplers work in the variance-exploding parameterisation of Karras et al. 2022 (EDM),
x = x₀ + σ·ε. A :class:`NoiseSchedule` is the VP table ᾱ_t for the training steps t = 0 … T−1
(index 0 is DDPM's t = 1), with σ_t = sqrt((1 − ᾱ_t) / ᾱ_t); the network sees
x_vp = x / sqrt(1 + σ²) at the fractional timestep t(σ) interpolated in log σ over the table.
A :class:`FlowSchedule` is rectified flow's straight path x_t = (1 − t)·x₀ + t·ε, t ∈ [0, 1]
(Liu et al. 2023; Lipman et al. 2023; SiT, Ma et al. 2024): x_t / (1 − t) = x₀ + σ·ε with
σ = t / (1 − t), so the same samplers and grids serve both. How the network's input and output
are scaled at each σ is ``trigen.diffusion.precond``'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import Tensor

from trigen.choices import parse_choice
from trigen.errors import ConfigError
from trigen.rng import rand, randint, randn_like

DEFAULT_NUM_STEPS = 1000
"""Training steps T of the DDPM papers."""
COSINE_MAX_BETA = 0.999
"""Nichol & Dhariwal 2021 clip β_t here so that the cosine schedule's last steps stay finite."""
KARRAS_RHO = 7.0
"""EDM's ρ (Karras et al. 2022, eq. 5): larger ρ puts more of the grid at small σ."""
KARRAS_SIGMA_MIN, KARRAS_SIGMA_MAX = 0.002, 80.0
"""EDM's σ range (Karras et al. 2022, Table 1), clamped to a schedule's trained range: beyond
σ ≈ 80 the marginal of [-1, 1] images is Gaussian to within 1%, so the few levels a cosine
schedule keeps above it (σ_max ≈ 2·10⁴) would only spend steps."""


FLOW_TIME_SCALE = float(DEFAULT_NUM_STEPS)
"""A flow model's network gets 1000·t: the scale of the VP timesteps, so the same timestep
embedders (sin-cos frequencies tuned to 0 … 1000) serve both."""
FLOW_T_MAX = 0.999
"""Where flow sampling starts (σ_max = 999): x_t there is 0.001·x₀ + 0.999·ε, so starting from
pure noise costs 0.1 % of the signal; t = 1 itself is σ = ∞, which no σ grid can hold."""
FLOW_T_MIN = 0.002 / 1.002
"""The lowest level of the flow model's grids, σ = 0.002 (EDM's σ_min)."""


class ScheduleKind(StrEnum):
    """The β schedules trigen builds."""

    LINEAR = "linear"
    COSINE = "cosine"


class Spacing(StrEnum):
    """How ``num_steps`` sampling timesteps are picked from the T training steps.

    LEADING: t = k·⌊T/n⌋ for k < n (DDIM's original code; does not reach t = T−1).
    TRAILING: t = round(T − k·T/n) − 1 (always starts at t = T−1; Lin et al. 2024).
    LINSPACE: n points evenly spread over [0, T−1], rounded.
    KARRAS: EDM's grid (Karras et al. 2022, eq. 5) over EDM's σ range clamped to the trained one,
    each point rounded to the nearest trained level (see :meth:`NoiseSchedule.sampling_timesteps`).
    """

    LEADING = "leading"
    TRAILING = "trailing"
    LINSPACE = "linspace"
    KARRAS = "karras"


class TimeSampling(StrEnum):
    """How a flow model's training draws t ∈ (0, 1).

    UNIFORM: t ~ U[0, 1) (rectified flow, SiT). LOGIT_NORMAL: t = sigmoid(m + s·n), n ~ N(0, 1)
    (Esser et al. 2024, SD3): more of the steps at mid t, where the velocity is hardest to tell.
    """

    UNIFORM = "uniform"
    LOGIT_NORMAL = "logit_normal"


def parse_spacing(spacing: Spacing | str) -> Spacing:
    """Validate a spacing name once, at the edge."""
    return parse_choice(Spacing, spacing, "timestep spacing")


def karras_sigmas(
    num_steps: int, sigma_min: float, sigma_max: float, rho: float = KARRAS_RHO
) -> Tensor:
    """EDM's σ grid (Karras et al. 2022, eq. 5), float64 (num_steps + 1,), last 0.

    σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < n: evenly spaced in σ^{1/ρ},
    so ρ = 1 is uniform in σ and ρ → ∞ uniform in log σ. One step is the single point σ_max.
    """
    if not 0 < sigma_min < sigma_max:
        raise ConfigError(f"need 0 < σ_min < σ_max, got {sigma_min} and {sigma_max}")
    if not rho > 0:
        raise ConfigError(f"the Karras grid's rho must be positive (EDM uses 7), got {rho}")
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def _distinct_decreasing(ts: Tensor, top: int) -> Tensor:
    """Non-increasing int64 timesteps (n,) made strictly decreasing inside [0, top], n ≤ top + 1.

    From the bottom up each t becomes at least one above its successor, then the i-th is capped at
    top − i; both sequences decrease strictly, so their minimum does too, and it stays ≥ n − 1 − i.
    """
    out = ts.clone()
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(int(out[i]), int(out[i + 1]) + 1)
    return torch.minimum(out, top - torch.arange(len(out)))


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete VP schedule: ``alphas_cumprod`` is ᾱ_t, float64 (T,), decreasing in (0, 1)."""

    alphas_cumprod: Tensor

    def __post_init__(self) -> None:
        ab = torch.as_tensor(self.alphas_cumprod, dtype=torch.float64).detach().cpu()
        if ab.ndim != 1 or ab.numel() < 2:
            raise ConfigError(
                f"ᾱ must be a 1-D table of at least 2 steps, got shape {tuple(ab.shape)}"
            )
        if not (ab[1:] < ab[:-1]).all() or ab[0] >= 1 or ab[-1] <= 0:
            raise ConfigError("ᾱ must decrease strictly inside (0, 1); check β_start/β_end")
        object.__setattr__(self, "alphas_cumprod", ab)

    @classmethod
    def linear(
        cls, T: int = DEFAULT_NUM_STEPS, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        """β_t linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020)."""
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        return cls(torch.cumprod(1.0 - betas, dim=0))

    @classmethod
    def cosine(cls, T: int = DEFAULT_NUM_STEPS, s: float = 0.008) -> NoiseSchedule:
        """ᾱ(t) ∝ cos²((t/T + s)/(1 + s)·π/2) with β clipped at 0.999 (Nichol & Dhariwal 2021)."""
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1.0 - f[1:] / f[:-1]).clamp(max=COSINE_MAX_BETA)
        return cls(torch.cumprod(1.0 - betas, dim=0))

    @classmethod
    def from_kind(cls, kind: ScheduleKind | str, T: int = DEFAULT_NUM_STEPS) -> NoiseSchedule:
        """The schedule named ``kind`` with its default parameters."""
        kind = parse_choice(ScheduleKind, kind, "noise schedule")
        return cls.linear(T) if kind is ScheduleKind.LINEAR else cls.cosine(T)

    @property
    def num_steps(self) -> int:
        """T, the number of training timesteps."""
        return self.alphas_cumprod.numel()

    @property
    def betas(self) -> Tensor:
        """β_t = 1 − ᾱ_t / ᾱ_{t−1}, float64 (T,)."""
        prev = torch.cat([self.alphas_cumprod.new_ones(1), self.alphas_cumprod[:-1]])
        return 1.0 - self.alphas_cumprod / prev

    @property
    def sigmas(self) -> Tensor:
        """σ_t = sqrt((1 − ᾱ_t)/ᾱ_t), float64 (T,), strictly increasing."""
        return ((1.0 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Fractional timestep in [0, T−1] for σ (any shape), linear in log σ between table entries.

        Float64 on ``sigma``'s device; σ outside [σ_min, σ_max] clamps to the ends.
        """
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        log_table = self.sigmas.log().to(sigma.device)
        log_s = sigma.clamp(min=torch.finfo(torch.float64).tiny).log()
        hi = torch.searchsorted(log_table, log_s).clamp(1, self.num_steps - 1)
        lo = hi - 1
        w = (log_s - log_table[lo]) / (log_table[hi] - log_table[lo])
        return (lo + w).clamp(0, self.num_steps - 1)

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """σ at fractional timestep ``t`` in [0, T−1] (any shape), log-linear between entries."""
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, self.num_steps - 1)
        log_table = self.sigmas.log().to(t.device)
        lo = t.floor().long().clamp(max=self.num_steps - 2)
        w = t - lo
        return (log_table[lo] * (1 - w) + log_table[lo + 1] * w).exp()

    def training_sigmas(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """σ of ``n`` training examples, float64 (n,) on ``like``'s device: a timestep drawn
        uniformly from the T training steps (from ``generator``), then its table entry."""
        t = randint(self.num_steps, n, like, generator)
        return self.sigmas.to(t.device)[t]

    def sampling_timesteps(
        self, num_steps: int, spacing: Spacing | str = Spacing.TRAILING, rho: float = KARRAS_RHO
    ) -> Tensor:
        """``num_steps`` distinct training timesteps (int64), strictly decreasing.

        KARRAS rounds each point of :func:`karras_sigmas` over EDM's range clamped to the trained
        one, [KARRAS_SIGMA_MIN, KARRAS_SIGMA_MAX] ∩ [σ_min, σ_max], to the nearest timestep in
        log σ (the net is trained on integer t only). Where the dense low-σ end rounds several
        points to one level, the higher of two equal timesteps moves up to the next free one,
        while the i-th point stays at most i below the first (the clamp's level, or T−1 when more
        steps are asked than levels lie below the clamp): the grid keeps ``num_steps`` distinct
        levels, NFE stays as asked, and ``num_steps`` = T gives every training step.
        ``rho`` is used by KARRAS only.
        """
        spacing, T = parse_spacing(spacing), self.num_steps
        if not 1 <= num_steps <= T:
            raise ConfigError(f"sampling steps must be in 1..{T}, got {num_steps}")
        if spacing is Spacing.KARRAS:
            lo = max(KARRAS_SIGMA_MIN, self.sigma_min)
            hi = min(KARRAS_SIGMA_MAX, self.sigma_max)
            sigmas = karras_sigmas(num_steps, lo, hi, rho)[:-1]
            ts = self.sigma_to_t(sigmas).round().long()
            return _distinct_decreasing(ts, top=max(int(ts[0]), num_steps - 1))
        if spacing is Spacing.LEADING:
            ts = torch.arange(num_steps, dtype=torch.float64) * (T // num_steps)
        elif spacing is Spacing.TRAILING:
            ts = (T - torch.arange(num_steps, dtype=torch.float64) * (T / num_steps)).round() - 1
        else:
            ts = torch.linspace(T - 1, 0, num_steps, dtype=torch.float64).round()
        return ts.long().sort(descending=True).values

    def sampling_sigmas(
        self, num_steps: int, spacing: Spacing | str = Spacing.TRAILING, rho: float = KARRAS_RHO
    ) -> Tensor:
        """σ grid of a ``num_steps``-step sampler: float64 (num_steps + 1,), decreasing, last 0.

        Every nonzero σ is a trained level; ``rho`` shapes the KARRAS grid only.
        """
        sigmas = self.sigmas[self.sampling_timesteps(num_steps, spacing, rho)]
        return torch.cat([sigmas, sigmas.new_zeros(1)])


@dataclass(frozen=True)
class FlowSchedule:
    """Rectified flow's linear path x_t = (1 − t)·x₀ + t·ε in the σ view, σ = t / (1 − t).

    Training draws t by ``time_sampling`` (``logit_mean`` m and ``logit_std`` s for the
    logit-normal, SD3's defaults 0 and 1); sampling runs on σ grids between σ(``t_min``) and
    σ(``t_max``).
    The network's time input is t·:data:`FLOW_TIME_SCALE`.
    """

    time_sampling: TimeSampling = TimeSampling.LOGIT_NORMAL
    logit_mean: float = 0.0
    logit_std: float = 1.0
    t_min: float = FLOW_T_MIN
    t_max: float = FLOW_T_MAX

    def __post_init__(self) -> None:
        time = parse_choice(TimeSampling, self.time_sampling, "flow time sampling")
        object.__setattr__(self, "time_sampling", time)
        if not (math.isfinite(self.logit_std) and self.logit_std > 0):
            raise ConfigError(f"logit_std must be a positive number, got {self.logit_std}")
        if not math.isfinite(self.logit_mean):
            raise ConfigError(f"logit_mean must be a finite number, got {self.logit_mean}")
        if not 0 < self.t_min < self.t_max < 1:
            raise ConfigError(f"need 0 < t_min < t_max < 1, got {self.t_min} and {self.t_max}")

    @property
    def num_steps(self) -> int:
        """The time scale of the network's input (t ∈ [0, 1] becomes 0 … 1000)."""
        return DEFAULT_NUM_STEPS

    @property
    def sigma_min(self) -> float:
        return self.t_min / (1 - self.t_min)

    @property
    def sigma_max(self) -> float:
        return self.t_max / (1 - self.t_max)

    @staticmethod
    def sigma_of(t: Tensor) -> Tensor:
        """σ = t / (1 − t) (any shape, float64): the σ view of the path at time t."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return t / (1 - t)

    @staticmethod
    def t_of(sigma: Tensor) -> Tensor:
        """t = σ / (1 + σ) ∈ [0, 1] (any shape, float64); σ = ∞ is t = 1."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        return torch.where(sigma.isinf(), torch.ones_like(sigma), sigma / (1 + sigma))

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """The network's time input 1000·t(σ), float64 on ``sigma``'s device."""
        return self.t_of(sigma) * FLOW_TIME_SCALE

    def training_times(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """t of ``n`` training examples, float64 (n,) in [0, 1) on ``like``'s device."""
        if self.time_sampling is TimeSampling.UNIFORM:
            return rand(n, like, generator).double()
        normal = randn_like(torch.empty(n, device=like.device), generator).double()
        return torch.sigmoid(self.logit_mean + self.logit_std * normal)  # float64: never 1

    def training_sigmas(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """σ = t/(1 − t) of ``n`` training examples, float64 (n,), t from :meth:`training_times`."""
        return self.sigma_of(self.training_times(n, like, generator))

    def sampling_sigmas(
        self, num_steps: int, spacing: Spacing | str = Spacing.TRAILING, rho: float = KARRAS_RHO
    ) -> Tensor:
        """σ grid of a ``num_steps``-step sampler: float64 (num_steps + 1,), decreasing, last 0.

        TRAILING (the default) is uniform in t from t_max: t_k = t_max·(1 − k/n), rectified flow's
        Euler grid. LINSPACE spreads n points evenly in t over [t_min, t_max]; LEADING takes
        t_min + k·(t_max − t_min)/n for k < n (never reaches t_max); KARRAS is EDM's grid over
        [σ_min, σ_max] ∩ [KARRAS_SIGMA_MIN, KARRAS_SIGMA_MAX], with ``rho``.
        """
        spacing = parse_spacing(spacing)
        if num_steps < 1:
            raise ConfigError(f"sampling steps must be ≥ 1, got {num_steps}")
        if spacing is Spacing.KARRAS:
            lo = max(KARRAS_SIGMA_MIN, self.sigma_min)
            return karras_sigmas(num_steps, lo, min(KARRAS_SIGMA_MAX, self.sigma_max), rho)
        k = torch.arange(num_steps, dtype=torch.float64)
        if spacing is Spacing.TRAILING:
            t = self.t_max * (1 - k / num_steps)
        elif spacing is Spacing.LEADING:
            t = self.t_min + (num_steps - 1 - k) * (self.t_max - self.t_min) / num_steps
        else:
            t = torch.linspace(self.t_max, self.t_min, num_steps, dtype=torch.float64)
        sigmas = self.sigma_of(t)
        return torch.cat([sigmas, sigmas.new_zeros(1)])


Schedule = NoiseSchedule | FlowSchedule
"""What a diffusion family runs on: a VP table or the flow path."""
