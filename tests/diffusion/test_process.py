"""Forward process moments (the ε / v / x₀ conversions are tested in test_precond)."""

import pytest
import torch

from trigen.diffusion.process import (
    Prediction,
    alpha_sigma,
    parse_prediction,
    q_sample,
)
from trigen.diffusion.schedules import NoiseSchedule
from trigen.errors import ConfigError

SCHEDULE = NoiseSchedule.linear()


def test_q_sample_moments() -> None:
    n = 20_000
    t = torch.tensor([0, 300, 999])
    x0 = torch.tensor([0.8, -0.5, 1.0])[:, None].expand(3, n)
    x_t = q_sample(x0, t, torch.randn(3, n), SCHEDULE)
    alpha, sigma = alpha_sigma(SCHEDULE, t, x0)  # (3, 1)
    se = sigma.squeeze(1) / n**0.5
    assert ((x_t.mean(1) - (alpha * x0[:, :1]).squeeze(1)).abs() < 5 * se).all()
    assert torch.allclose(x_t.std(1), sigma.squeeze(1), rtol=0.03)


def test_alpha_sigma_shape_and_circle() -> None:
    like = torch.zeros(4, 3, 2, 2, dtype=torch.float64)
    alpha, sigma = alpha_sigma(SCHEDULE, torch.tensor([0, 1, 500, 999]), like)
    assert alpha.shape == sigma.shape == (4, 1, 1, 1)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(alpha))


def test_parse_prediction() -> None:
    assert parse_prediction("v") is Prediction.V
    assert parse_prediction(Prediction.EPS) is Prediction.EPS
    with pytest.raises(ConfigError, match="eps, v, x0"):
        parse_prediction("score")
