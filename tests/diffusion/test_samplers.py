"""Samplers driven by the exact denoiser of a Gaussian toy dataset recover that dataset."""

import math

import pytest
import torch

from trigen.diffusion.samplers import (
    SAMPLERS,
    Sampler,
    nfe,
    parse_sampler,
    sample_ddim,
    sample_ddpm,
)
from trigen.diffusion.schedules import NoiseSchedule, Spacing
from trigen.errors import ConfigError
from trigen.guidance import guided

SCHEDULE = NoiseSchedule.linear()
COSINE = NoiseSchedule.cosine()
SHAPE = (2, 2, 2)  # per-example dims of the toy "images"
MU = torch.linspace(-0.6, 0.6, 8).view(SHAPE)
S = 0.5  # data std per dim
N = 4096


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x₀ | x] for x₀ ~ N(μ, s²) per dim and x = x₀ + σ·ε."""
    sig2 = sigma.view(-1, 1, 1, 1).to(x.dtype) ** 2
    return MU + S**2 / (S**2 + sig2) * (x - MU)


def start(sigmas: torch.Tensor, gen: torch.Generator, n: int = N) -> torch.Tensor:
    """Draws from the exact marginal at σ₀, so only the sampler's own error remains."""
    return MU + math.sqrt(S**2 + float(sigmas[0]) ** 2) * torch.randn(n, *SHAPE, generator=gen)


# Steps at which each sampler's discretisation error on this toy is well below the tolerance:
# DDIM and DDPM are first order (the error halves when the steps double), the others second.
STEPS = {
    Sampler.DDPM: 1000,
    Sampler.DDIM: 200,
    Sampler.DPMPP_2M: 50,
    Sampler.DPMPP_3M: 50,
    Sampler.HEUN: 50,
}


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_recovers_gaussian_toy(sampler: Sampler) -> None:
    sigmas = SCHEDULE.sampling_sigmas(STEPS[sampler])
    gen = torch.Generator().manual_seed(1)
    out = SAMPLERS[sampler](gaussian_denoiser, start(sigmas, gen), sigmas, generator=gen)
    assert out.shape == (N, *SHAPE)
    assert ((out.mean(0) - MU).abs() < 4.5 * S / N**0.5).all()
    assert out.std(0).mean().item() == pytest.approx(S, rel=0.03)


def _ode_scale(
    sampler: Sampler,
    steps: int,
    grid: Spacing = Spacing.TRAILING,
    schedule: NoiseSchedule = SCHEDULE,
) -> float:
    """Where a deterministic sampler maps a point one marginal std from the mean, in units of s.

    The exact ODE maps it to 1; the toy's denoiser is affine, so the sampler's whole map is too
    and |scale − 1| is also the relative error of the samples' std (their mean is exact).
    """
    sigmas = schedule.sampling_sigmas(steps, grid)
    x = MU + math.sqrt(S**2 + float(sigmas[0]) ** 2) * torch.ones(1, *SHAPE, dtype=torch.float64)
    out = SAMPLERS[sampler](gaussian_denoiser, x, sigmas)
    return ((out - MU) / S).mean().item()


def test_ode_samplers_converge_at_their_order() -> None:
    deterministic = (Sampler.DDIM, Sampler.DPMPP_2M, Sampler.HEUN)
    errs = {s: [abs(_ode_scale(s, n) - 1) for n in (25, 100, 400)] for s in deterministic}
    for s in deterministic:
        assert errs[s][0] > errs[s][1] > errs[s][2]
    assert (
        3.4 < errs[Sampler.DDIM][1] / errs[Sampler.DDIM][2] < 4.6
    )  # first order: 4× steps, ¼ error
    for s in (Sampler.DPMPP_2M, Sampler.HEUN):  # higher order beats DDIM at equal steps
        assert errs[s][1] < errs[Sampler.DDIM][1] / 5


def test_heun_on_the_karras_grid() -> None:
    """Heun on EDM's grid, on the cosine schedule trigen trains with (σ_max ≈ 2·10⁴).

    The uniform trailing grid makes Heun diverge there. Against DDIM at equal NFE (2n − 1 steps,
    same grid) the ratio of errors falls like 1/n (orders 2 and 1); a ratio ≤ 1.5 at n = 10 means
    Heun catches up by 15 steps, and it must be ahead by EDM's 18 steps (NFE 35).
    """

    def err(sampler: Sampler, steps: int, grid: Spacing) -> float:
        return abs(_ode_scale(sampler, steps, grid, COSINE) - 1)

    heun = {n: err(Sampler.HEUN, n, Spacing.KARRAS) for n in (10, 18)}
    assert heun[10] < err(Sampler.HEUN, 10, Spacing.TRAILING) / 10
    assert heun[10] < 1.5 * err(Sampler.DDIM, 19, Spacing.KARRAS)
    assert heun[18] < err(Sampler.DDIM, 35, Spacing.KARRAS)
    assert heun[10] / heun[18] > (18 / 10) ** 2 * 0.8  # second order, pre-asymptotic slack


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
@pytest.mark.parametrize("grid", list(Spacing), ids=lambda g: g.value)
def test_every_sampler_on_every_grid(sampler: Sampler, grid: Spacing) -> None:
    sigmas = SCHEDULE.sampling_sigmas(STEPS[sampler], grid)
    gen = torch.Generator().manual_seed(1)
    out = SAMPLERS[sampler](gaussian_denoiser, start(sigmas, gen, n=1024), sigmas, generator=gen)
    assert ((out.mean(0) - MU).abs() < 4.5 * S / 1024**0.5).all()
    # 10%: DPM-Solver++(2M) is ~6% off on the leading and linspace grids, whose last steps grow
    # in log σ (step ratio r ≈ 0.25 triples its extrapolation weight); the others are within 2%
    assert out.std(0).mean().item() == pytest.approx(S, rel=0.1)


def test_ddpm_is_ddim_with_eta_one() -> None:
    sigmas = SCHEDULE.sampling_sigmas(30)
    x = start(sigmas, torch.Generator().manual_seed(0), n=64)
    a = sample_ddpm(gaussian_denoiser, x, sigmas, generator=torch.Generator().manual_seed(5))
    b = sample_ddim(gaussian_denoiser, x, sigmas, generator=torch.Generator().manual_seed(5), eta=1)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_deterministic_given_generator(sampler: Sampler) -> None:
    sigmas = SCHEDULE.sampling_sigmas(10)
    x = start(sigmas, torch.Generator().manual_seed(0), n=16)
    fn = SAMPLERS[sampler]
    kw = {"eta": 0.7} if sampler is Sampler.DDIM else {}
    runs = [
        fn(gaussian_denoiser, x, sigmas, generator=torch.Generator().manual_seed(k), **kw)
        for k in (2, 2, 3)
    ]
    assert torch.equal(runs[0], runs[1])
    if sampler in (Sampler.DDPM, Sampler.DDIM):  # stochastic ones depend on the seed
        assert not torch.allclose(runs[0], runs[2])


@pytest.mark.parametrize("sampler", [Sampler.DDIM, Sampler.DPMPP_2M, Sampler.HEUN])
def test_batched_equals_per_item(sampler: Sampler) -> None:
    sigmas = SCHEDULE.sampling_sigmas(12)
    x = start(sigmas, torch.Generator().manual_seed(0), n=5)
    batched = SAMPLERS[sampler](gaussian_denoiser, x, sigmas)
    single = torch.cat([SAMPLERS[sampler](gaussian_denoiser, xi[None], sigmas) for xi in x])
    assert torch.allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_nfe_counts_denoiser_calls(sampler: Sampler, steps: int) -> None:
    calls = []

    def counting(x, sigma):
        calls.append(sigma)
        assert sigma.shape == (x.shape[0],) and (sigma > 0).all()
        return gaussian_denoiser(x, sigma)

    sigmas = SCHEDULE.sampling_sigmas(steps)
    SAMPLERS[sampler](counting, start(sigmas, torch.Generator(), n=3), sigmas)
    assert len(calls) == nfe(sampler, steps) == nfe(sampler.value, steps)


def test_cfg_scale_one_is_conditional() -> None:
    """A sampler run through ``guided`` at scale 1 equals the plain conditional denoiser."""

    def class_denoiser(x, sigma, y):  # class k's data sits at mean k
        shift = y.view(-1, 1, 1, 1).to(x.dtype)
        sig2 = sigma.view(-1, 1, 1, 1) ** 2
        return shift + S**2 / (S**2 + sig2) * (x - shift)

    labels = torch.tensor([0, 1, 2, 1])

    def with_cfg(scale):
        def denoise(x, sigma):
            fn = lambda xx, yy: class_denoiser(xx, sigma.repeat(len(xx) // len(x)), yy)  # noqa: E731
            return guided(fn, labels, null_label=3, scale=scale)(x)

        return denoise

    sigmas = SCHEDULE.sampling_sigmas(8)
    x = start(sigmas, torch.Generator().manual_seed(0), n=4)
    plain = sample_ddim(lambda x, s: class_denoiser(x, s, labels), x, sigmas)
    assert torch.equal(sample_ddim(with_cfg(1.0), x, sigmas), plain)
    assert not torch.allclose(sample_ddim(with_cfg(2.0), x, sigmas), plain)


def test_rejects_bad_grids_and_names() -> None:
    x = torch.zeros(2, *SHAPE)
    for bad in ([5.0, 1.0], [1.0, 2.0, 0.0], [0.0]):
        with pytest.raises(ConfigError):
            sample_ddim(gaussian_denoiser, x, torch.tensor(bad))
    with pytest.raises(ConfigError, match="eta"):
        sample_ddim(gaussian_denoiser, x, torch.tensor([1.0, 0.0]), eta=-0.5)
    assert parse_sampler("dpmpp_2m") is Sampler.DPMPP_2M
    with pytest.raises(ConfigError, match="ddpm, ddim, dpmpp_2m, dpmpp_3m, heun"):
        parse_sampler("euler")
