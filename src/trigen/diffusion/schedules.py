"""Discrete VP (DDPM) noise schedules and their σ view for the samplers.

A schedule is the table ᾱ_t for the training steps t = 0 … T−1 (index 0 is DDPM's t = 1). Samplers
work in the variance-exploding parameterisation of Karras et al. 2022 (EDM), x = x₀ + σ·ε, where
σ_t = sqrt((1 − ᾱ_t) / ᾱ_t) and the network sees x_vp = x / sqrt(1 + σ²) at the fractional
timestep t(σ) interpolated in log σ over the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import Tensor

from trigen.choices import parse_choice
from trigen.errors import ConfigError

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
