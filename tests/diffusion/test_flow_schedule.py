"""The flow path's σ view: t ↔ σ, training times (uniform, logit-normal), sampling grids."""

import math

import pytest
import torch

from trigen.diffusion.schedules import (
    FLOW_T_MAX,
    KARRAS_SIGMA_MAX,
    FlowSchedule,
    Spacing,
    TimeSampling,
)
from trigen.errors import ConfigError

LIKE = torch.empty(0)


def test_sigma_and_t_are_inverse() -> None:
    t = torch.linspace(0, 0.999, 50, dtype=torch.float64)
    sigma = FlowSchedule.sigma_of(t)
    assert (sigma[1:] > sigma[:-1]).all() and sigma[0] == 0
    torch.testing.assert_close(FlowSchedule.t_of(sigma), t)
    assert FlowSchedule.t_of(torch.tensor([math.inf])).item() == 1.0
    assert FlowSchedule().sigma_max == pytest.approx(FLOW_T_MAX / (1 - FLOW_T_MAX))


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.8, 0.5), (-1.0, 2.0)])
def test_logit_normal_times(mean: float, std: float) -> None:
    """t = sigmoid(m + s·n): inside (0, 1), median sigmoid(m), logit(t) has std s."""
    schedule = FlowSchedule(TimeSampling.LOGIT_NORMAL, mean, std)
    t = schedule.training_times(100_000, LIKE, torch.Generator().manual_seed(0))
    assert t.dtype == torch.float64 and t.shape == (100_000,)
    assert ((t > 0) & (t < 1)).all()
    assert t.median().item() == pytest.approx(1 / (1 + math.exp(-mean)), abs=0.01)
    assert torch.logit(t).std().item() == pytest.approx(std, rel=0.02)


def test_uniform_times_and_seeding() -> None:
    schedule = FlowSchedule("uniform")
    t = schedule.training_times(100_000, LIKE, torch.Generator().manual_seed(0))
    assert ((t >= 0) & (t < 1)).all() and t.mean().item() == pytest.approx(0.5, abs=0.01)
    again = schedule.training_times(100_000, LIKE, torch.Generator().manual_seed(0))
    assert torch.equal(t, again)
    sigma = schedule.training_sigmas(10, LIKE, torch.Generator().manual_seed(0))
    torch.testing.assert_close(sigma, FlowSchedule.sigma_of(t[:10]))


@pytest.mark.parametrize("spacing", list(Spacing))
@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_sampling_grids_decrease_and_end_in_zero(spacing: Spacing, steps: int) -> None:
    schedule = FlowSchedule()
    sigmas = schedule.sampling_sigmas(steps, spacing)
    assert sigmas.shape == (steps + 1,) and sigmas[-1] == 0
    assert (sigmas[1:] < sigmas[:-1]).all()
    assert sigmas[0] <= schedule.sigma_max * (1 + 1e-12)
    assert sigmas[-2] >= schedule.sigma_min * (1 - 1e-12)


def test_default_grid_is_uniform_in_t_from_t_max() -> None:
    """Rectified flow's Euler grid: t_k = t_max·(1 − k/n)."""
    sigmas = FlowSchedule().sampling_sigmas(4, Spacing.TRAILING)
    t = FlowSchedule.t_of(sigmas[:-1])
    torch.testing.assert_close(t, FLOW_T_MAX * torch.tensor([1.0, 0.75, 0.5, 0.25]).double())
    karras = FlowSchedule().sampling_sigmas(4, Spacing.KARRAS)
    assert karras[0] == pytest.approx(KARRAS_SIGMA_MAX)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="logit_std"):
        FlowSchedule(logit_std=0.0)
    with pytest.raises(ConfigError, match="uniform, logit_normal"):
        FlowSchedule("beta")
    with pytest.raises(ConfigError, match="t_max"):
        FlowSchedule(t_max=1.0)
    with pytest.raises(ConfigError, match="steps"):
        FlowSchedule().sampling_sigmas(0)
