"""Schedules: monotone with the right endpoints; respacing and σ ↔ t maps behave."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.diffusion.schedules import (
    KARRAS_SIGMA_MAX,
    NoiseSchedule,
    ScheduleKind,
    Spacing,
    karras_sigmas,
)
from trigen.errors import ConfigError

LINEAR = NoiseSchedule.linear()
COSINE = NoiseSchedule.cosine()


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
def test_monotone_tables(schedule: NoiseSchedule) -> None:
    ab, sig = schedule.alphas_cumprod, schedule.sigmas
    assert ab.dtype == torch.float64 and ab.shape == (1000,)
    assert (ab[1:] < ab[:-1]).all()
    assert (sig[1:] > sig[:-1]).all()
    assert ((schedule.betas > 0) & (schedule.betas <= 0.999)).all()
    assert schedule.sigma_min == pytest.approx(float(sig[0]))
    assert schedule.sigma_max == pytest.approx(float(sig[-1]))


def test_linear_endpoints() -> None:
    s = NoiseSchedule.linear(T=1000, beta_start=1e-4, beta_end=0.02)
    assert float(s.alphas_cumprod[0]) == pytest.approx(1 - 1e-4)
    assert float(s.betas[-1]) == pytest.approx(0.02)
    assert s.sigma_min == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)))


def test_cosine_endpoints() -> None:
    assert float(COSINE.alphas_cumprod[0]) > 0.999
    assert float(COSINE.alphas_cumprod[-1]) < 1e-4  # essentially pure noise at the last step
    assert float(COSINE.betas.max()) == pytest.approx(0.999)


def test_from_kind_and_bad_tables() -> None:
    assert torch.equal(NoiseSchedule.from_kind("cosine").alphas_cumprod, COSINE.alphas_cumprod)
    assert NoiseSchedule.from_kind(ScheduleKind.LINEAR, T=10).num_steps == 10
    with pytest.raises(ConfigError):
        NoiseSchedule.from_kind("sqrt")
    with pytest.raises(ConfigError):
        NoiseSchedule(torch.tensor([0.5, 0.9]))  # increasing ᾱ
    with pytest.raises(ConfigError):
        NoiseSchedule.linear(T=10, beta_start=0.0)  # ᾱ_0 = 1: infinite SNR


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 1000), spacing=st.sampled_from(list(Spacing)))
def test_sampling_sigmas_grid(n: int, spacing: Spacing) -> None:
    sig = LINEAR.sampling_sigmas(n, spacing)
    assert sig.shape == (n + 1,)
    assert sig[-1] == 0 and (sig[1:] < sig[:-1]).all()
    table = LINEAR.sigmas
    assert torch.isin(sig[:-1], table).all()  # only trained timesteps
    if spacing is Spacing.LEADING:  # leading never reaches t = T−1 (DDIM's original code)
        assert float(sig[0]) == float(table[(n - 1) * (1000 // n)])
    elif spacing is Spacing.KARRAS:  # EDM's σ_max, or T−1 when more steps than levels below it
        assert float(sig[0]) == float(table[max(_clamp_level(LINEAR), n - 1)])
    else:
        assert float(sig[0]) == LINEAR.sigma_max


def _clamp_level(schedule: NoiseSchedule) -> int:
    """The trained timestep nearest (in log σ) to EDM's σ_max clamped to the trained range."""
    top = torch.tensor(min(KARRAS_SIGMA_MAX, schedule.sigma_max))
    return int((schedule.sigmas.log() - top.log()).abs().argmin())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 1000),
    rho=st.floats(1.0, 12.0),
    schedule=st.sampled_from([LINEAR, COSINE]),
)
def test_karras_grid_hits_trained_levels(n: int, rho: float, schedule: NoiseSchedule) -> None:
    sig = schedule.sampling_sigmas(n, Spacing.KARRAS, rho=rho)
    assert sig.shape == (n + 1,) and sig[-1] == 0 and (sig[1:] < sig[:-1]).all()
    assert torch.isin(sig[:-1], schedule.sigmas).all()  # every nonzero σ is a trained level
    assert float(sig[0]) == float(schedule.sigmas[max(_clamp_level(schedule), n - 1)])
    assert float(sig[-2]) == schedule.sigma_min  # EDM's σ_min 0.002 clamps to the trained one


def test_karras_clamps_to_edm_range_and_rounds_to_nearest_level() -> None:
    assert COSINE.sigma_max > 1e4 and LINEAR.sigma_max > 100  # both clamp to EDM's 80
    for schedule in (LINEAR, COSINE):
        ts = schedule.sampling_timesteps(10, Spacing.KARRAS)
        raw = karras_sigmas(10, schedule.sigma_min, KARRAS_SIGMA_MAX)[:-1]
        levels = schedule.sigmas
        # no collisions at 10 steps, so each point is the nearest level in log σ to its target
        nearest = (levels.log()[None, :] - raw.log()[:, None]).abs().argmin(1)
        assert torch.equal(ts, nearest)


def test_all_steps_is_the_training_grid() -> None:
    for spacing in Spacing:
        assert torch.equal(LINEAR.sampling_sigmas(1000, spacing)[:-1], LINEAR.sigmas.flip(0))


def test_bad_step_counts_and_spacing() -> None:
    for n in (0, 1001):
        with pytest.raises(ConfigError):
            LINEAR.sampling_sigmas(n)
    with pytest.raises(ConfigError, match="trailing, linspace, karras"):
        LINEAR.sampling_sigmas(10, "exponential")
    with pytest.raises(ConfigError, match="rho"):
        LINEAR.sampling_sigmas(10, "karras", rho=0.0)
    assert torch.equal(
        LINEAR.sampling_sigmas(10, "leading"), LINEAR.sampling_sigmas(10, Spacing.LEADING)
    )


@pytest.mark.parametrize("schedule", [LINEAR, COSINE], ids=["linear", "cosine"])
def test_sigma_t_maps(schedule: NoiseSchedule) -> None:
    idx = torch.arange(1000, dtype=torch.float64)
    assert torch.allclose(schedule.sigma_to_t(schedule.sigmas), idx, atol=1e-6)
    t = torch.rand(500, dtype=torch.float64) * 999
    assert torch.allclose(schedule.sigma_to_t(schedule.t_to_sigma(t)), t, atol=1e-6)
    s = schedule.t_to_sigma(t.sort().values)
    assert (s[1:] >= s[:-1]).all()  # monotone between table entries too
    ends = schedule.sigma_to_t(torch.tensor([0.0, schedule.sigma_max * 10]))
    assert ends.tolist() == [0.0, 999.0]


def test_karras_sigmas_spacing_in_sigma_to_the_one_over_rho() -> None:
    lo, hi = 0.01, 80.0
    uniform = karras_sigmas(9, lo, hi, rho=1.0)
    assert uniform[-1] == 0 and uniform[0] == pytest.approx(hi) and uniform[-2] == pytest.approx(lo)
    steps = uniform[:-2] - uniform[1:-1]
    assert torch.allclose(steps, torch.full_like(steps, (hi - lo) / 8))  # ρ = 1: uniform in σ
    for rho in (3.0, 7.0):
        roots = karras_sigmas(9, lo, hi, rho=rho)[:-1] ** (1 / rho)
        assert torch.allclose(roots.diff(), roots.diff()[:1].expand(8))
    near_log = karras_sigmas(9, lo, hi, rho=1e4)[:-1].log().diff()  # ρ → ∞: uniform in log σ
    assert torch.allclose(near_log, near_log.mean().expand(8), rtol=1e-3)
    assert karras_sigmas(1, lo, hi).tolist() == [hi, 0.0]
    with pytest.raises(ConfigError):
        karras_sigmas(5, hi, lo)


def test_karras_rho_one_rounds_a_uniform_sigma_grid() -> None:
    """Rounded to trained levels, the ρ = 1 grid stays within one level of uniform spacing."""
    sig = LINEAR.sampling_sigmas(8, Spacing.KARRAS, rho=1.0)[:-1]
    target = torch.linspace(min(KARRAS_SIGMA_MAX, LINEAR.sigma_max), LINEAR.sigma_min, 8)
    t, t_target = LINEAR.sigma_to_t(sig), LINEAR.sigma_to_t(target)
    assert ((t - t_target).abs() <= 0.5 + 1e-9).all()
