"""Schedules: monotone with the right endpoints; respacing and σ ↔ t maps behave."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.diffusion.schedules import NoiseSchedule, ScheduleKind, Spacing
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
    if spacing is not Spacing.LEADING:  # leading never reaches t = T−1 (DDIM's original code)
        assert float(sig[0]) == LINEAR.sigma_max
    else:
        assert float(sig[0]) == float(table[(n - 1) * (1000 // n)])


def test_all_steps_is_the_training_grid() -> None:
    for spacing in Spacing:
        assert torch.equal(LINEAR.sampling_sigmas(1000, spacing)[:-1], LINEAR.sigmas.flip(0))


def test_bad_step_counts_and_spacing() -> None:
    for n in (0, 1001):
        with pytest.raises(ConfigError):
            LINEAR.sampling_sigmas(n)
    with pytest.raises(ConfigError):
        LINEAR.sampling_sigmas(10, "karras")
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
