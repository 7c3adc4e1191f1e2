"""Diffusion samplers: pure functions over a denoiser and a decreasing σ grid (EDM/VE view).

Every sampler has the signature ``sample_xxx(denoiser, x, sigmas, *, generator=None,
callback=None, ...) → x₀``: ``denoiser(x (B, …), sigma (B,)) → x̂₀`` is the posterior-mean
estimate E[x₀ | x] for x = x₀ + σ·ε; ``x`` is the starting noise at level ``sigmas[0]``;
``sigmas`` (n + 1,) decreases strictly and ends in 0, giving n steps. Randomness (the stochastic
samplers only) comes from ``generator``; ``callback`` receives a :class:`StepInfo` once per step,
after the step's denoiser evaluations. :func:`solve` runs any of them by name with its own
options; network evaluations (NFE) per sample are listed by :func:`nfe`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import Tensor

from trigen.choices import parse_choice
from trigen.errors import ConfigError
from trigen.rng import randn_like

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""``denoiser(x (B, …), sigma (B,)) → x̂₀ (B, …)``."""

LOWER_ORDER_FINAL_STEPS = 15
"""Below this many steps DPM-Solver++(3M) takes its second-to-last step at second order, as
diffusers' ``lower_order_final`` does: few steps mean large ones, where the third-order
extrapolation of x̂₀ is the least reliable."""


@dataclass(frozen=True)
class StepInfo:
    """What a sampler reports after each step's denoiser evaluations.

    ``i`` is the step (0 … n − 1) of ``n``; the step goes from ``sigma`` (σ_i) to ``sigma_next``
    (σ_{i+1}, 0 on the last step). ``x`` (B, …) is the sample at σ_i as the step received it and
    ``denoised`` (B, …) the step's x̂₀ (Heun with churn: at the raised level σ̂_i); on the last
    step ``denoised`` is the sampler's output.
    """

    i: int
    n: int
    sigma: float
    sigma_next: float
    x: Tensor
    denoised: Tensor


StepCallback = Callable[[StepInfo], None]


def _sigma_pairs(sigmas: Tensor) -> list[tuple[float, float]]:
    """(σ_i, σ_{i+1}) for each step, as Python floats (float64 arithmetic on the grid)."""
    pairs = list(itertools.pairwise(sigmas.detach().double().cpu().tolist()))
    if not pairs or pairs[-1][1] != 0 or any(b >= a for a, b in pairs):
        raise ConfigError("a σ grid must decrease strictly and end in 0 (n + 1 ≥ 2 points)")
    return pairs


def _denoise(
    denoiser: Denoiser,
    x: Tensor,
    step: tuple[int, int, float, float],
    callback: StepCallback | None,
) -> Tensor:
    """x̂₀ of step ``(i, n, σ_i, σ_{i+1})`` at σ_i, shown to ``callback`` with the step's x."""
    i, n, sigma, sigma_next = step
    x0 = denoiser(x, _full(x, sigma))
    if callback is not None:
        callback(StepInfo(i, n, sigma, sigma_next, x, x0))
    return x0


def _steps(sigmas: Tensor) -> list[tuple[int, int, float, float]]:
    """``(i, n, σ_i, σ_{i+1})`` of each of the n steps of a σ grid (:func:`_sigma_pairs`)."""
    pairs = _sigma_pairs(sigmas)
    return [(i, len(pairs), a, b) for i, (a, b) in enumerate(pairs)]


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
    callback: StepCallback | None = None,
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
    for step in _steps(sigmas):
        _, _, sigma, sigma_next = step
        x0 = _denoise(denoiser, x, step, callback)
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
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020, Alg. 2) with the exact posterior; NFE = n.

    Each step draws x' ~ q(x' | x, x₀ = x̂₀), the Gaussian posterior of the forward process
    (Ho et al. eqs. 6–7, variance β̃), for any pair of grid points. In σ space it is a Brownian
    bridge: mean x̂₀ + (σ'²/σ²)(x − x̂₀), variance σ'²(σ² − σ'²)/σ², which is DDIM with η = 1
    (:func:`sample_ddim`'s σ_up² is that variance and σ_down/σ = σ'²/σ²): it runs as that.
    """
    return sample_ddim(denoiser, x, sigmas, generator=generator, callback=callback, eta=1.0)


def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2): second-order multistep in λ = −log σ; NFE = n.

    The first step, and the last one (to σ = 0), are first order (= DDIM η=0); in between, x̂₀ is
    extrapolated from the current and the previous estimate with the step-size ratio r = h_prev/h
    (:func:`_dpmpp_multistep` at order ≤ 2). ``generator`` is accepted for a uniform signature
    and not used.
    """
    return _dpmpp_multistep(denoiser, x, sigmas, callback, max_order=2)


def sample_dpmpp_3m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
) -> Tensor:
    """DPM-Solver++(3M): the third-order member of Lu et al. 2022's multistep family (their Alg. 2
    is the 2M), as the authors' code runs it, in λ = −log σ; NFE = n.

    Over a step of h = λ' − λ the linear part is integrated exactly and x̂₀(λ) is expanded in
    divided differences of the last three estimates (D₁ ≈ h·dx̂₀/dλ, D₂ ≈ ½h²·d²x̂₀/dλ²):
    x' = (σ'/σ)·x + (1 − e^{−h})·x̂₀ + φ₂·D₁ − φ₃·D₂ with φ₂ = 1 − (1 − e^{−h})/h and
    φ₃ = φ₂/h − ½. D₂ carries the weight of the authors' code (also diffusers' and k-diffusion's),
    half that of the Taylor term, so the error falls like a second-order method's with a smaller
    constant than 2M's. Steps ramp up 1, 2, 3 in order; second-order steps are 2M's; the last
    step (to σ = 0) returns x̂₀ and, below :data:`LOWER_ORDER_FINAL_STEPS` steps, the one before
    it is second order (diffusers' ``lower_order_final``). ``generator`` is not used.
    """
    return _dpmpp_multistep(denoiser, x, sigmas, callback, max_order=3)


def _dpmpp_multistep(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, callback: StepCallback | None, max_order: int
) -> Tensor:
    """DPM-Solver++ multistep of order ≤ ``max_order`` (2 or 3): the update of
    :func:`sample_dpmpp_3m`, whose order-2 step is exactly 2M's x̂₀ extrapolation."""
    history: list[tuple[Tensor, float]] = []  # (x̂₀, h) of the previous steps, newest last
    for step in _steps(sigmas):
        i, n, sigma, sigma_next = step
        x0 = _denoise(denoiser, x, step, callback)
        if sigma_next == 0:
            x = x0
            continue
        h = math.log(sigma / sigma_next)
        lower_final = n < LOWER_ORDER_FINAL_STEPS and i == n - 2
        order = min(len(history) + 1, 2 if lower_final else max_order)
        x_next = (sigma_next / sigma) * x - math.expm1(-h) * x0  # first order: DDIM
        if order >= 2:
            (x0_1, h_1), (x0_2, h_2) = history[-1], history[0]  # newest, oldest
            r0, r1 = h_1 / h, h_2 / h
            d1_0 = (x0 - x0_1) / r0  # h × the divided difference over the last step
        if order == 2:
            x_next = x_next - math.expm1(-h) / 2 * d1_0
        elif order == 3:
            d2 = (d1_0 - (x0_1 - x0_2) / r1) / (r0 + r1)
            phi2 = 1 + math.expm1(-h) / h
            x_next = x_next + phi2 * (d1_0 + r0 * d2) - (phi2 / h - 0.5) * d2
        history = [*history[-1:], (x0, h)]
        x = x_next
    return x


# Below this NFE Heun loses to DDIM at equal NFE (docs/measurements.md, "Heun below NFE 10").
HEUN_MIN_NFE = 10


def sample_heun(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
) -> Tensor:
    """Heun's 2nd-order sampler (Karras et al. 2022, Alg. 2; Alg. 1 when s_churn = 0); NFE = 2n − 1.

    Churn: where σ_i ∈ [s_tmin, s_tmax], fresh noise of std s_noise·sqrt(σ̂² − σ_i²) (from
    ``generator``) first raises the level to σ̂ = (1 + γ)·σ_i, γ = min(s_churn/n, √2 − 1)
    (Alg. 2 lines 4–6). Then an Euler step along dx/dσ = (x − x̂₀)/σ from σ̂ to σ_{i+1} and a
    trapezoidal correction, except on the last step to σ = 0 where the derivative there is
    undefined (Euler only). s_churn = 0 is deterministic. Run it on EDM's grid (``Spacing.KARRAS``,
    the diffusion family's default for Heun): on a grid uniform in t, the steps across the
    large-σ levels of a cosine schedule make the trapezoid correction diverge.
    """
    if s_churn < 0 or s_noise < 0 or s_tmin > s_tmax:
        raise ConfigError(
            f"Heun's churn needs s_churn ≥ 0, s_noise ≥ 0 and s_tmin ≤ s_tmax, got s_churn="
            f"{s_churn}, s_noise={s_noise}, s_tmin={s_tmin}, s_tmax={s_tmax}"
        )
    pairs = _sigma_pairs(sigmas)
    gamma = min(s_churn / len(pairs), math.sqrt(2) - 1)
    for i, (sigma, sigma_next) in enumerate(pairs):
        x_hat, sigma_hat = x, sigma
        if gamma > 0 and s_tmin <= sigma <= s_tmax:
            sigma_hat = sigma * (1 + gamma)
            noise = randn_like(x, generator)
            x_hat = x + s_noise * math.sqrt(sigma_hat**2 - sigma**2) * noise
        x0 = denoiser(x_hat, _full(x, sigma_hat))
        d = (x_hat - x0) / sigma_hat
        x_next = x_hat + (sigma_next - sigma_hat) * d
        if sigma_next > 0:
            d_next = (x_next - denoiser(x_next, _full(x, sigma_next))) / sigma_next
            x_next = x_hat + (sigma_next - sigma_hat) * (d + d_next) / 2
        if callback is not None:
            callback(StepInfo(i, len(pairs), sigma, sigma_next, x, x0))
        x = x_next
    return x


class Sampler(StrEnum):
    """The diffusion samplers trigen offers."""

    DDPM = "ddpm"
    DDIM = "ddim"
    DPMPP_2M = "dpmpp_2m"
    DPMPP_3M = "dpmpp_3m"
    HEUN = "heun"


SAMPLERS: dict[Sampler, Callable[..., Tensor]] = {
    Sampler.DDPM: sample_ddpm,
    Sampler.DDIM: sample_ddim,
    Sampler.DPMPP_2M: sample_dpmpp_2m,
    Sampler.DPMPP_3M: sample_dpmpp_3m,
    Sampler.HEUN: sample_heun,
}


@dataclass(frozen=True)
class SamplerOptions:
    """The samplers' own settings, each taken by the samplers of :data:`SAMPLER_OPTIONS` only."""

    eta: float = 0.0  # DDIM stochasticity: 0 = deterministic, 1 = DDPM
    s_churn: float = 0.0  # Heun: EDM's S_churn; γ = min(S_churn/n, √2 − 1) per step; 0 = none
    s_tmin: float = 0.0  # Heun: churn only where σ ≥ s_tmin
    s_tmax: float = math.inf  # Heun: … and σ ≤ s_tmax
    s_noise: float = 1.0  # Heun: std of the churn noise (EDM's S_noise; > 1 offsets detail loss)

    def only_for(self, sampler: Sampler | str) -> SamplerOptions:
        """These options with every field ``sampler`` does not take back at its default: a
        :class:`~trigen.families.base.SampleSpec` is read field by field, like this."""
        own = SAMPLER_OPTIONS.get(parse_sampler(sampler), ())
        reset = {f.name: f.default for f in dataclasses.fields(self) if f.name not in own}
        return dataclasses.replace(self, **reset)


SAMPLER_OPTIONS: dict[Sampler, tuple[str, ...]] = {
    Sampler.DDIM: ("eta",),
    Sampler.HEUN: ("s_churn", "s_tmin", "s_tmax", "s_noise"),
}
"""Which :class:`SamplerOptions` fields each sampler takes; the others take none."""


def parse_sampler(name: Sampler | str) -> Sampler:
    """Validate a sampler name once, at the edge."""
    return parse_choice(Sampler, name, "sampler")


def sampler_kwargs(sampler: Sampler | str, options: SamplerOptions) -> dict[str, float]:
    """The fields of ``options`` that ``sampler`` takes, as keyword arguments; a ConfigError if
    a field another sampler takes is set away from its default."""
    sampler = parse_sampler(sampler)
    own = SAMPLER_OPTIONS.get(sampler, ())
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if field.name not in own and value != field.default:
            owners = [s.value for s, names in SAMPLER_OPTIONS.items() if field.name in names]
            raise ConfigError(
                f"{field.name}={value} is an option of {' and '.join(owners)}, which sampler "
                f"{sampler.value} ignores: leave it at {field.default} or choose {owners[0]}"
            )
    return {name: getattr(options, name) for name in own}


def solve(
    sampler: Sampler | str,
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    options: SamplerOptions = SamplerOptions(),
    callback: StepCallback | None = None,
) -> Tensor:
    """x₀ from the noise ``x`` at ``sigmas[0]`` by ``sampler`` over the grid ``sigmas``, passing
    it the ``options`` it takes (:func:`sampler_kwargs`), ``generator`` and ``callback``."""
    sampler = parse_sampler(sampler)
    kwargs = sampler_kwargs(sampler, options)
    return SAMPLERS[sampler](denoiser, x, sigmas, generator=generator, callback=callback, **kwargs)


def nfe(sampler: Sampler | str, steps: int) -> int:
    """Denoiser evaluations for ``steps`` steps (a CFG evaluation is one batched forward of 2B)."""
    sampler = parse_sampler(sampler)
    return 2 * steps - 1 if sampler is Sampler.HEUN else steps
