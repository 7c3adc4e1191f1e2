"""Samplers driven by the exact denoiser of a Gaussian toy dataset recover that dataset."""

import itertools
import math

import pytest
import torch

from trigen.diffusion.samplers import (
    SAMPLERS,
    Sampler,
    SamplerOptions,
    StepInfo,
    nfe,
    parse_sampler,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    sample_dpmpp_3m,
    sample_heun,
    sampler_kwargs,
    solve,
)
from trigen.diffusion.schedules import NoiseSchedule, Spacing
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
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
    deterministic = (Sampler.DDIM, Sampler.DPMPP_2M, Sampler.DPMPP_3M, Sampler.HEUN)
    errs = {s: [abs(_ode_scale(s, n) - 1) for n in (25, 100, 400)] for s in deterministic}
    for s in deterministic:
        assert errs[s][0] > errs[s][1] > errs[s][2]
    assert (
        3.4 < errs[Sampler.DDIM][1] / errs[Sampler.DDIM][2] < 4.6
    )  # first order: 4× steps, ¼ error
    for s in deterministic[1:]:  # higher order beats DDIM at equal steps
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


def _flow_error(sampler: Sampler, sigmas: torch.Tensor) -> float:
    """|x₀ − exact|/s for a start one marginal std above the mean, float64.

    ``exact`` solves the probability-flow ODE exactly down to the last nonzero σ (the toy's flow
    keeps x − μ ∝ sqrt(s² + σ²)) and then takes x̂₀ there, as every sampler's last step does: only
    the solver's error on the ODE remains, not the final jump's.
    """
    sigma0, sigma_last = float(sigmas[0]), float(sigmas[-2])
    ones = torch.ones(1, *SHAPE, dtype=torch.float64)
    out = SAMPLERS[sampler](gaussian_denoiser, MU + math.sqrt(S**2 + sigma0**2) * ones, sigmas)
    x_last = MU + math.sqrt(S**2 + sigma_last**2) * ones
    exact = gaussian_denoiser(x_last, torch.tensor([sigma_last], dtype=torch.float64))
    return ((out - exact).abs() / S).max().item()


def _geometric(steps: int) -> torch.Tensor:
    """σ from 80 to 0.002 in equal steps of λ = −log σ, then 0."""
    sigmas = torch.logspace(math.log10(80.0), math.log10(0.002), steps, dtype=torch.float64)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def test_dpmpp_3m_beats_2m_at_equal_steps() -> None:
    """DPM-Solver++(3M) against 2M on the exact Gaussian ODE, at equal steps (= equal NFE).

    On constant steps in λ and on EDM's grid of the cosine schedule, 3M's error is under half of
    2M's from 40 steps on. Both fall like n⁻² (×4 per doubling): the authors' 3M, which diffusers
    and k-diffusion share and trigen matches (test_diffusers_parity), weights its second
    difference at half the Taylor term's, so it is second order with a smaller constant; an
    exact third-order term would fall ×8 or more per doubling.
    """
    pair = (Sampler.DPMPP_2M, Sampler.DPMPP_3M)
    steps = (40, 80, 160)
    grids = {"geometric": _geometric, "edm": lambda n: COSINE.sampling_sigmas(n, Spacing.KARRAS)}
    for grid in grids.values():
        errs = {s: [_flow_error(s, grid(n)) for n in steps] for s in pair}
        for err_2m, err_3m in zip(*errs.values(), strict=True):
            assert err_3m < err_2m / 2
    for s in pair:
        errs = [_flow_error(s, _geometric(n)) for n in steps]
        assert all(3.4 < a / b < 5.5 for a, b in itertools.pairwise(errs))


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5])
def test_dpmpp_3m_lower_orders(steps: int) -> None:
    """Orders 1 and 2 on the first steps, x̂₀ on the last one and (below 15 steps) second order on
    the one before it: up to four steps 3M takes no third-order step and equals 2M; at five the
    third step is third order."""
    sigmas = SCHEDULE.sampling_sigmas(steps)
    x = start(sigmas, torch.Generator().manual_seed(0), n=8).double()
    three, two = (f(gaussian_denoiser, x, sigmas) for f in (sample_dpmpp_3m, sample_dpmpp_2m))
    assert torch.allclose(three, two, rtol=0, atol=1e-12) == (steps <= 4)


def _heun_alg1(x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Heun as trigen ran it before churn (Karras et al. 2022, Alg. 1): s_churn 0's reference."""
    for sigma, sigma_next in itertools.pairwise(sigmas.tolist()):
        d = (x - gaussian_denoiser(x, torch.full((len(x),), sigma))) / sigma
        x_next = x + (sigma_next - sigma) * d
        if sigma_next > 0:
            x0_next = gaussian_denoiser(x_next, torch.full((len(x),), sigma_next))
            d_next = (x_next - x0_next) / sigma_next
            x_next = x + (sigma_next - sigma) * (d + d_next) / 2
        x = x_next
    return x


def test_heun_without_churn_is_deterministic_heun() -> None:
    sigmas = SCHEDULE.sampling_sigmas(12, Spacing.KARRAS)
    x = start(sigmas, torch.Generator().manual_seed(0), n=64)
    reference = _heun_alg1(x, sigmas)
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    for churn in (
        {"s_churn": 0.0, "s_tmin": 0.1, "s_noise": 1.007},
        {"s_churn": 5.0, "s_tmin": float(sigmas[0]) * 2},  # the churn window holds no σ
    ):
        assert torch.equal(
            sample_heun(gaussian_denoiser, x, sigmas, generator=gen, **churn), reference
        )
    assert torch.equal(gen.get_state(), state)  # no noise drawn


def test_heun_with_churn_recovers_gaussian_toy() -> None:
    """EDM's stochastic sampler: seeded, as many evaluations, and still the data's moments."""
    sigmas = SCHEDULE.sampling_sigmas(50, Spacing.KARRAS)
    churn = {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0}
    x = start(sigmas, torch.Generator().manual_seed(1))
    calls = []

    def counting(x, sigma):
        calls.append(sigma)
        return gaussian_denoiser(x, sigma)

    runs = [
        sample_heun(counting, x, sigmas, generator=torch.Generator().manual_seed(k), **churn)
        for k in (7, 7, 8)
    ]
    assert len(calls) == 3 * nfe(Sampler.HEUN, 50)
    assert torch.equal(runs[0], runs[1]) and not torch.allclose(runs[0], runs[2])
    assert not torch.allclose(runs[0], sample_heun(gaussian_denoiser, x, sigmas), atol=1e-2)
    assert ((runs[0].mean(0) - MU).abs() < 4.5 * S / N**0.5).all()
    assert runs[0].std(0).mean().item() == pytest.approx(S, rel=0.03)


def test_heun_rejects_bad_churn() -> None:
    x, sigmas = torch.zeros(2, *SHAPE), torch.tensor([1.0, 0.0])
    for bad in ({"s_churn": -1.0}, {"s_noise": -0.5}, {"s_tmin": 2.0, "s_tmax": 1.0}):
        with pytest.raises(ConfigError, match="churn"):
            sample_heun(gaussian_denoiser, x, sigmas, **bad)


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_callback_sees_every_step(sampler: Sampler) -> None:
    sigmas = SCHEDULE.sampling_sigmas(7)
    x = start(sigmas, torch.Generator().manual_seed(0), n=8)
    infos: list[StepInfo] = []

    def run(callback=None):
        gen = torch.Generator().manual_seed(1)
        return solve(sampler, gaussian_denoiser, x, sigmas, generator=gen, callback=callback)

    out = run(infos.append)
    assert torch.equal(out, run())  # watching changes nothing
    assert [(info.i, info.n) for info in infos] == [(i, 7) for i in range(7)]
    assert [info.sigma for info in infos] == sigmas[:-1].tolist()  # decreasing, as the grid
    assert [info.sigma_next for info in infos] == sigmas[1:].tolist()
    assert torch.equal(infos[0].x, x)
    assert all(info.denoised.shape == x.shape for info in infos)
    assert torch.allclose(infos[-1].denoised, out, atol=1e-6)  # the last x̂₀ is the output


def test_solve_passes_each_sampler_its_options() -> None:
    sigmas = SCHEDULE.sampling_sigmas(20, Spacing.KARRAS)
    x = start(sigmas, torch.Generator().manual_seed(0), n=32)

    def gen():
        return torch.Generator().manual_seed(5)

    ddpm = sample_ddpm(gaussian_denoiser, x, sigmas, generator=gen())
    eta_one = SamplerOptions(eta=1.0)
    ddim = solve(Sampler.DDIM, gaussian_denoiser, x, sigmas, generator=gen(), options=eta_one)
    assert torch.allclose(ddim, ddpm, atol=1e-5)
    churn = SamplerOptions(s_churn=10.0, s_tmin=0.1, s_tmax=20.0, s_noise=1.01)
    heun = solve("heun", gaussian_denoiser, x, sigmas, generator=gen(), options=churn)
    fields = {"s_churn": 10.0, "s_tmin": 0.1, "s_tmax": 20.0, "s_noise": 1.01}
    assert sampler_kwargs(Sampler.HEUN, churn) == fields
    assert torch.equal(heun, sample_heun(gaussian_denoiser, x, sigmas, generator=gen(), **fields))
    assert sampler_kwargs(Sampler.DPMPP_3M, SamplerOptions()) == {}


@pytest.mark.parametrize(
    ("sampler", "options", "field"),
    [
        (Sampler.DDIM, SamplerOptions(s_churn=1.0), "s_churn"),
        (Sampler.HEUN, SamplerOptions(eta=0.5), "eta"),
        (Sampler.DDPM, SamplerOptions(eta=1.0), "eta"),
        (Sampler.DPMPP_3M, SamplerOptions(s_noise=1.003), "s_noise"),
        (Sampler.DPMPP_2M, SamplerOptions(s_tmax=10.0), "s_tmax"),
    ],
)
def test_solve_rejects_an_option_the_sampler_ignores(
    sampler: Sampler, options: SamplerOptions, field: str
) -> None:
    x, sigmas = torch.zeros(2, *SHAPE), torch.tensor([1.0, 0.0])
    with pytest.raises(ConfigError, match=rf"^{field}=.* {sampler.value} ignores"):
        solve(sampler, gaussian_denoiser, x, sigmas, options=options)


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


@pytest.mark.parametrize(
    "sampler", [Sampler.DDIM, Sampler.DPMPP_2M, Sampler.DPMPP_3M, Sampler.HEUN]
)
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


def test_sample_spec_carries_the_sampler_options() -> None:
    spec = SampleSpec(sampler="heun", eta=0.0, s_churn=2.0, s_tmin=0.1, s_tmax=9.0, s_noise=1.1)
    assert spec.sampler_options == SamplerOptions(0.0, 2.0, 0.1, 9.0, 1.1)
    assert SampleSpec().sampler_options == SamplerOptions()
