"""trigen's samplers and σ grids against diffusers' schedulers, on a denoiser known exactly.

The toy data are Gaussian, x₀ ~ N(μ, s²) per dimension, so D(x, σ) = (s²x + σ²μ)/(s² + σ²).
diffusers drives a VP model: it is given the ε-prediction ε̂ = (x − D(x, σ))/σ of its input
x_vp = x/sqrt(1 + σ²) (the DDIM/DPM-Solver sample; Euler and Heun keep x and scale it in
``scale_model_input``). Both sides run in float64, but diffusers casts its σ table to float32
and takes each step in float32, so the two agree to ~1e-6, well inside the 1e-5 asked.

Conventions matched: ``final_sigmas_type="zero"`` (the last step goes to σ = 0 and returns x̂₀,
as every trigen sampler does); ``lower_order_final`` (diffusers' default: DPM-Solver++ drops to
first order on the last step and, below 15 steps, to second order on the one before, which
trigen's 3M does too); DDIM with ``set_alpha_to_one`` (its last step also lands on σ = 0) and
without ``clip_sample`` (clipping x̂₀ is the diffusion family's business, not the sampler's).
DDIM runs where n divides T: diffusers' DDIM steps back by ⌊T/n⌋ from each trailing timestep,
which lands on the next one only then.
"""

import math

import pytest
import torch

from trigen.diffusion.samplers import (
    sample_ddim,
    sample_dpmpp_2m,
    sample_dpmpp_3m,
    sample_heun,
)
from trigen.diffusion.schedules import NoiseSchedule, Spacing, karras_sigmas

schedulers = pytest.importorskip("diffusers.schedulers")

SHAPE = (2, 2, 2)
MU = torch.linspace(-0.6, 0.6, 8, dtype=torch.float64).view(SHAPE)
S = 0.5
ATOL = 1e-5


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x₀ | x] for x₀ ~ N(μ, s²) per dim and x = x₀ + σ·ε."""
    sig2 = sigma.to(torch.float64).view(-1, 1, 1, 1) ** 2
    return MU + S**2 / (S**2 + sig2) * (x - MU)


def eps_model(x_vp: torch.Tensor, sigma: float) -> torch.Tensor:
    """The ε a perfect VP network predicts at x_vp = x/sqrt(1 + σ²)."""
    x = x_vp * math.sqrt(1 + sigma**2)
    return (x - gaussian_denoiser(x, torch.tensor([sigma]))) / sigma


def run_diffusers(scheduler, x: torch.Tensor, sigma_of_step, variance_exploding: bool):
    """diffusers' sampling loop from the VE sample ``x`` at the first step's σ; returns x₀."""
    sigma0 = sigma_of_step(0, scheduler.timesteps[0])
    sample = x if variance_exploding else x / math.sqrt(1 + sigma0**2)
    for i, t in enumerate(scheduler.timesteps):
        x_vp = scheduler.scale_model_input(sample, t)
        sample = scheduler.step(eps_model(x_vp, sigma_of_step(i, t)), t, sample).prev_sample
    return sample


def start(sigma0: float, n: int = 16) -> torch.Tensor:
    """Draws from the exact marginal at σ₀ (VE)."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(n, *SHAPE, generator=gen, dtype=torch.float64)
    return MU + math.sqrt(S**2 + sigma0**2) * noise


def listed_sigma(scheduler):
    """σ of step i as the scheduler lists it (DPM-Solver, Euler, Heun)."""
    return lambda i, t: float(scheduler.sigmas[i])


def matches_on_listed_sigmas(scheduler, sampler, sigmas, variance_exploding: bool) -> bool:
    """``sampler`` over ``sigmas`` ends where diffusers' ``scheduler`` ends on its own σ list,
    both from the same draws at ``sigmas[0]``."""
    x = start(float(sigmas[0]))
    theirs = run_diffusers(scheduler, x, listed_sigma(scheduler), variance_exploding)
    return torch.allclose(sampler(gaussian_denoiser, x, sigmas), theirs, atol=ATOL, rtol=0)


def trigen_schedule(scheduler) -> NoiseSchedule:
    """trigen's schedule over diffusers' own ᾱ table (computed in float32 there)."""
    return NoiseSchedule(scheduler.alphas_cumprod.double())


@pytest.mark.parametrize(
    ("kind", "beta_schedule"), [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]
)
def test_schedules_match(kind: str, beta_schedule: str) -> None:
    ours = NoiseSchedule.from_kind(kind).alphas_cumprod
    theirs = schedulers.DDIMScheduler(beta_schedule=beta_schedule).alphas_cumprod.double()
    # diffusers multiplies 1000 float32 factors: relative rounding up to ~1e-5 at the end
    assert torch.allclose(theirs, ours, rtol=1e-4, atol=0)


@pytest.mark.parametrize("steps", [10, 25, 50])
def test_trailing_grid_matches(steps: int) -> None:
    scheduler = schedulers.DPMSolverMultistepScheduler(timestep_spacing="trailing")
    scheduler.set_timesteps(steps)
    schedule = trigen_schedule(scheduler)
    assert torch.equal(schedule.sampling_timesteps(steps, Spacing.TRAILING), scheduler.timesteps)
    sigmas = schedule.sampling_sigmas(steps, Spacing.TRAILING)
    assert torch.allclose(scheduler.sigmas.double(), sigmas, rtol=1e-6, atol=0)  # float32 there


@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_trailing(steps: int) -> None:
    scheduler = schedulers.DDIMScheduler(
        timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True
    )
    scheduler.set_timesteps(steps)
    schedule = trigen_schedule(scheduler)
    sigmas = schedule.sampling_sigmas(steps, Spacing.TRAILING)
    x = start(float(sigmas[0]))
    table = schedule.sigmas
    ours = sample_ddim(gaussian_denoiser, x, sigmas)
    theirs = run_diffusers(scheduler, x, lambda i, t: float(table[t]), variance_exploding=False)
    assert torch.allclose(ours, theirs, atol=ATOL, rtol=0)


@pytest.mark.parametrize(("order", "sampler"), [(2, sample_dpmpp_2m), (3, sample_dpmpp_3m)])
@pytest.mark.parametrize("steps", [5, 10, 15, 25])  # 3M: below 15, second order before the last
def test_dpmpp_trailing(order: int, sampler, steps: int) -> None:
    scheduler = schedulers.DPMSolverMultistepScheduler(
        timestep_spacing="trailing", solver_order=order, algorithm_type="dpmsolver++"
    )
    scheduler.set_timesteps(steps)
    sigmas = trigen_schedule(scheduler).sampling_sigmas(steps, Spacing.TRAILING)
    assert matches_on_listed_sigmas(scheduler, sampler, sigmas, variance_exploding=False)


@pytest.mark.parametrize(
    ("scheduler_class", "options", "sampler", "variance_exploding"),
    [
        ("DPMSolverMultistepScheduler", {"solver_order": 2}, sample_dpmpp_2m, False),
        ("DPMSolverMultistepScheduler", {"solver_order": 3}, sample_dpmpp_3m, False),
        # Karras et al.'s Euler step along dx/dσ is DDIM (η = 0) in σ space
        ("EulerDiscreteScheduler", {}, sample_ddim, True),
    ],
)
@pytest.mark.parametrize("steps", [10, 25])
def test_on_diffusers_karras_sigmas(
    scheduler_class: str, options: dict, sampler, variance_exploding: bool, steps: int
) -> None:
    """Same σ list (diffusers' Karras grid over the whole trained range, unrounded)."""
    scheduler = getattr(schedulers, scheduler_class)(use_karras_sigmas=True, **options)
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.double()
    assert matches_on_listed_sigmas(scheduler, sampler, sigmas, variance_exploding)


@pytest.mark.parametrize("steps", [10, 25])
def test_heun_on_diffusers_karras_sigmas(steps: int) -> None:
    """diffusers lists each inner σ twice (once per Heun stage): 2n − 1 evaluations, as ours."""
    scheduler = schedulers.HeunDiscreteScheduler(use_karras_sigmas=True)
    scheduler.set_timesteps(steps)
    sigmas = torch.unique_consecutive(scheduler.sigmas.double())
    assert len(sigmas) == steps + 1 and len(scheduler.timesteps) == 2 * steps - 1
    assert matches_on_listed_sigmas(scheduler, sample_heun, sigmas, variance_exploding=True)


@pytest.mark.parametrize("steps", [10, 25])
def test_karras_grid(steps: int) -> None:
    """What agrees with diffusers' ``use_karras_sigmas``, and what differs by design.

    The formula agrees: trigen's :func:`karras_sigmas` over the same range is diffusers' list.
    ``Spacing.KARRAS`` then clamps the range to EDM's σ ≤ 80 (diffusers' ``sigma_max=80``) and
    rounds each point to the nearest trained level in log σ; diffusers rounds only the timestep
    the network sees and keeps the unrounded σ. So the timesteps agree, and trigen's σ are the
    trained levels at those timesteps, within half a level of diffusers' in log σ.
    """
    scheduler = schedulers.EulerDiscreteScheduler(use_karras_sigmas=True, sigma_max=80.0)
    scheduler.set_timesteps(steps)
    schedule = trigen_schedule(scheduler)
    theirs = scheduler.sigmas.double()
    assert torch.allclose(karras_sigmas(steps, schedule.sigma_min, 80.0), theirs, rtol=1e-6)
    timesteps = schedule.sampling_timesteps(steps, Spacing.KARRAS)
    assert torch.equal(timesteps, scheduler.timesteps.double().round().long())
    ours = schedule.sampling_sigmas(steps, Spacing.KARRAS)
    half_level = (schedule.sigmas.log().diff().max() / 2).item()
    assert ((ours[:-1].log() - theirs[:-1].log()).abs() <= half_level + 1e-6).all()
