"""Diffusion samplers: pure functions over a denoiser and a decreasing σ grid (EDM/VE view).

Every sampler has the signature ``sample_xxx(denoiser, x, sigmas, *, generator=None, ...) → x₀``:
``denoiser(x (B, …), sigma (B,)) → x̂₀`` is the posterior-mean estimate E[x₀ | x] for
x = x₀ + σ·ε; ``x`` is the starting noise at level ``sigmas[0]``; ``sigmas`` (n + 1,) decreases
strictly and ends in 0, giving n steps. Randomness (ancestral samplers only) comes from
``generator``. Network evaluations (NFE) per sample are listed by :func:`nfe`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from enum import StrEnum

import torch
from torch import Tensor

from trigen.choices import parse_choice
from trigen.diffusion._rng import randn_like
from trigen.errors import ConfigError

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""``denoiser(x (B, …), sigma (B,)) → x̂₀ (B, …)``."""


def _sigma_pairs(sigmas: Tensor) -> list[tuple[float, float]]:
    """(σ_i, σ_{i+1}) for each step, as Python floats (float64 arithmetic on the grid)."""
    pairs = list(itertools.pairwise(sigmas.detach().double().cpu().tolist()))
    if not pairs or pairs[-1][1] != 0 or any(b >= a for a, b in pairs):
        raise ConfigError("a σ grid must decrease strictly and end in 0 (n + 1 ≥ 2 points)")
    return pairs


def _full(x: Tensor, sigma: float) -> Tensor:
    """σ for each of the B items, at least float32 (bf16 would round small σ to 3 digits)."""
    return torch.full(
        (x.shape[0],), sigma, dtype=torch.promote_types(x.dtype, torch.float32), device=x.device
    )


def sample_ddim(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12) written in σ space; NFE = n.

    With ε̂ = (x − x̂₀)/σ, a step to σ' is x' = x̂₀ + σ_down·ε̂ + σ_up·z, where
    σ_up = η·σ'·sqrt(σ² − σ'²)/σ and σ_down = sqrt(σ'² − σ_up²): dividing DDIM's VP update by
    sqrt(ᾱ') gives exactly this. η = 0 is the deterministic DDIM ODE solver (first-order), η = 1
    the DDPM posterior (see :func:`sample_ddpm`).
    """
    if eta < 0:
        raise ConfigError(f"DDIM's eta must be ≥ 0 (0 = deterministic, 1 = DDPM), got {eta}")
    for sigma, sigma_next in _sigma_pairs(sigmas):
        x0 = denoiser(x, _full(x, sigma))
        if sigma_next == 0:
            x = x0
            continue
        sigma_up = min(sigma_next, eta * sigma_next * math.sqrt(sigma**2 - sigma_next**2) / sigma)
        sigma_down = math.sqrt(sigma_next**2 - sigma_up**2)
        x = x0 + sigma_down / sigma * (x - x0)
        if sigma_up > 0:
            x = x + sigma_up * randn_like(x, generator)
    return x


def sample_ddpm(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020, Alg. 2) with the exact posterior; NFE = n.

    Each step draws x' ~ q(x' | x, x₀ = x̂₀), the Gaussian posterior of the forward process
    (Ho et al. eqs. 6–7, variance β̃), for any pair of grid points. In σ space it is a Brownian
    bridge: mean x̂₀ + (σ'²/σ²)(x − x̂₀), variance σ'²(σ² − σ'²)/σ². Equal to DDIM with η = 1.
    """
    for sigma, sigma_next in _sigma_pairs(sigmas):
        x0 = denoiser(x, _full(x, sigma))
        if sigma_next == 0:
            x = x0
            continue
        ratio = (sigma_next / sigma) ** 2
        x = (
            x0
            + ratio * (x - x0)
            + math.sqrt(sigma_next**2 * (1 - ratio)) * randn_like(x, generator)
        )
    return x


def sample_dpmpp_2m(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2): second-order multistep in λ = −log σ; NFE = n.

    The first step, and the last one (to σ = 0), are first order (= DDIM η=0); in between, x̂₀ is
    extrapolated from the current and the previous estimate with the step-size ratio r = h_prev/h.
    Deterministic: ``generator`` is accepted for a uniform signature and not used.
    """
    prev_x0, prev_h = None, None
    for sigma, sigma_next in _sigma_pairs(sigmas):
        x0 = denoiser(x, _full(x, sigma))
        if sigma_next == 0:
            x = x0
            continue
        h = math.log(sigma / sigma_next)  # λ' − λ > 0
        x0_mix = x0
        if prev_x0 is not None:
            r = prev_h / h
            x0_mix = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
        # exact integration of the linear part: x' = (σ'/σ)·x + (1 − e^{−h})·x̂₀
        x = (sigma_next / sigma) * x - math.expm1(-h) * x0_mix
        prev_x0, prev_h = x0, h
    return x


def sample_heun(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """Heun's 2nd-order ODE solver (Karras et al. 2022, Alg. 1, no churn); NFE = 2n − 1.

    Euler step along dx/dσ = (x − x̂₀)/σ, then a trapezoidal correction, except on the last step
    to σ = 0 where the derivative there is undefined (Euler only). Deterministic: ``generator``
    is accepted for a uniform signature and not used. Run it on EDM's grid (``Spacing.KARRAS``,
    the diffusion family's default for Heun): on a grid uniform in t, the steps across the
    large-σ levels of a cosine schedule make the trapezoid correction diverge.
    """
    for sigma, sigma_next in _sigma_pairs(sigmas):
        d = (x - denoiser(x, _full(x, sigma))) / sigma
        x_next = x + (sigma_next - sigma) * d
        if sigma_next > 0:
            d_next = (x_next - denoiser(x_next, _full(x, sigma_next))) / sigma_next
            x_next = x + (sigma_next - sigma) * (d + d_next) / 2
        x = x_next
    return x


class Sampler(StrEnum):
    """The diffusion samplers trigen offers."""

    DDPM = "ddpm"
    DDIM = "ddim"
    DPMPP_2M = "dpmpp_2m"
    HEUN = "heun"


SAMPLERS: dict[Sampler, Callable[..., Tensor]] = {
    Sampler.DDPM: sample_ddpm,
    Sampler.DDIM: sample_ddim,
    Sampler.DPMPP_2M: sample_dpmpp_2m,
    Sampler.HEUN: sample_heun,
}


def parse_sampler(name: Sampler | str) -> Sampler:
    """Validate a sampler name once, at the edge."""
    return parse_choice(Sampler, name, "sampler")


def nfe(sampler: Sampler | str, steps: int) -> int:
    """Denoiser evaluations for ``steps`` steps (a CFG evaluation is one batched forward of 2B)."""
    sampler = parse_sampler(sampler)
    return 2 * steps - 1 if sampler is Sampler.HEUN else steps
