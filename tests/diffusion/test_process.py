"""Forward process moments and the ε / v / x₀ conversions."""

import itertools

import pytest
import torch

from trigen.diffusion.process import (
    Prediction,
    alpha_sigma,
    convert_prediction,
    parse_prediction,
    prediction_to_eps,
    prediction_to_x0,
    q_sample,
    target,
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


def _coefficients(vp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    ab = torch.rand(6, 1, 1, 1, dtype=torch.float64) * 0.98 + 0.01
    if vp:
        return ab.sqrt(), (1 - ab).sqrt()
    return torch.ones_like(ab), ((1 - ab) / ab).sqrt()  # the EDM view: α = 1, σ = σ_ve


@pytest.mark.parametrize("vp", [True, False], ids=["vp", "ve"])
def test_conversions_round_trip_for_all_pairs(vp: bool) -> None:
    alpha, sigma = _coefficients(vp)
    x0 = torch.randn(6, 2, 3, 3, dtype=torch.float64)
    eps = torch.randn_like(x0)
    x_t = alpha * x0 + sigma * eps
    for src, dst in itertools.product(Prediction, Prediction):
        out = target(src, x0, eps, alpha, sigma)
        assert torch.allclose(prediction_to_x0(src, out, x_t, alpha, sigma), x0)
        assert torch.allclose(prediction_to_eps(src, out, x_t, alpha, sigma), eps)
        there = convert_prediction(out, src, dst, x_t, alpha, sigma)
        assert torch.allclose(there, target(dst, x0, eps, alpha, sigma))
        back = convert_prediction(there, dst, src, x_t, alpha, sigma)
        assert torch.allclose(back, out)


def test_v_is_salimans_ho() -> None:
    alpha, sigma = _coefficients(vp=True)
    x0, eps = torch.randn(6, 1, 2, 2, dtype=torch.float64), torch.randn(6, 1, 2, 2).double()
    assert torch.allclose(target(Prediction.V, x0, eps, alpha, sigma), alpha * eps - sigma * x0)


def test_parse_prediction() -> None:
    assert parse_prediction("v") is Prediction.V
    assert parse_prediction(Prediction.EPS) is Prediction.EPS
    with pytest.raises(ConfigError, match="eps, v, x0"):
        parse_prediction("score")
