"""The preconditioner: EDM's Table 1 for VP ε/v/x₀, flow matching and EDM, in one place."""

import itertools

import pytest
import torch

from trigen.diffusion.precond import (
    EDMPrecond,
    FlowPrecond,
    Objective,
    Precond,
    VPPrecond,
    objective_of,
    parse_objective,
    precond_for,
)
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import FlowSchedule, NoiseSchedule
from trigen.errors import ConfigError

SCHEDULE = NoiseSchedule.linear()
FLOW = FlowSchedule()
PRECONDS: dict[str, Precond] = {
    **{f"vp-{p.value}": VPPrecond(SCHEDULE, p) for p in Prediction},
    **{f"flow-{p.value}": FlowPrecond(FLOW, p) for p in Prediction},
    "edm": EDMPrecond(),
}


def _sigmas(n: int = 6) -> torch.Tensor:
    """Noise levels spread over 0.01 … 100 (log-uniform), float64."""
    return torch.logspace(-2, 2, n, dtype=torch.float64)


def _old_vp_x0(prediction: Prediction, out, x, sigma):
    """Today's (before the preconditioner) σ-space denoiser, written out: the net saw
    x_vp = α·x, α = 1/√(1+σ²), σ_vp = σ·α, and its output became x̂₀ by the VP conversions."""
    s = sigma.view(-1, 1, 1, 1)
    alpha, sigma_vp = (1 + s**2).rsqrt(), s * (1 + s**2).rsqrt()
    x_vp = x * alpha
    if prediction is Prediction.X0:
        return out
    if prediction is Prediction.EPS:
        return (x_vp - sigma_vp * out) / alpha
    return (alpha * x_vp - sigma_vp * out) / (alpha**2 + sigma_vp**2)


@pytest.mark.parametrize("prediction", list(Prediction))
def test_vp_denoiser_reproduces_the_old_conversions(prediction: Prediction) -> None:
    sigma = torch.tensor([0.003, 0.2, 1.0, 7.0, 150.0], dtype=torch.float64)
    x = torch.randn(5, 2, 3, 3, dtype=torch.float64) * (1 + sigma.view(-1, 1, 1, 1))
    seen = {}

    def net_fn(x_in, t, y):
        seen["x_in"], seen["t"] = x_in, t
        return torch.sin(3 * x_in) + t.view(-1, 1, 1, 1) / 1000  # any function of its inputs

    precond = VPPrecond(SCHEDULE, prediction)
    x0 = precond.denoise(net_fn, x, sigma, torch.zeros(5, dtype=torch.long))
    old = _old_vp_x0(prediction, net_fn(seen["x_in"], seen["t"], None), x, sigma)
    torch.testing.assert_close(x0, old, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(seen["x_in"], x * (1 + sigma**2).rsqrt().view(-1, 1, 1, 1))
    assert torch.equal(seen["t"], SCHEDULE.sigma_to_t(sigma).float())


@pytest.mark.parametrize("name", list(PRECONDS))
def test_exact_target_gives_exact_x0(name: str) -> None:
    """D(x, σ) = x₀ when the network outputs the target; the target is EDM's eq. 8."""
    precond = PRECONDS[name]
    sigma = _sigmas()
    x0 = torch.randn(6, 2, 4, 4, dtype=torch.float64)
    eps = torch.randn_like(x0)
    x = x0 + sigma.view(-1, 1, 1, 1) * eps
    target = precond.target(x0, eps, sigma)
    x_in = precond.net_input(x0, eps, sigma)
    c = precond.scalings(sigma)
    torch.testing.assert_close(x_in, c.c_in.view(-1, 1, 1, 1) * x)

    def oracle(net_in, c_noise, y):
        torch.testing.assert_close(net_in, x_in)
        return target

    torch.testing.assert_close(precond.denoise(oracle, x, sigma, None), x0)
    torch.testing.assert_close(precond.output_for(x0, x, sigma), target)


def test_targets_are_the_named_quantities() -> None:
    sigma = _sigmas()
    x0 = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    eps = torch.randn_like(x0)
    s = sigma.view(-1, 1, 1, 1)
    alpha, sigma_vp = (1 + s**2).rsqrt(), s * (1 + s**2).rsqrt()
    for path in ("vp", "flow"):
        torch.testing.assert_close(PRECONDS[f"{path}-eps"].target(x0, eps, sigma), eps)
        torch.testing.assert_close(PRECONDS[f"{path}-x0"].target(x0, eps, sigma), x0)
    v = PRECONDS["vp-v"].target(x0, eps, sigma)
    torch.testing.assert_close(v, alpha * eps - sigma_vp * x0)  # Salimans & Ho
    torch.testing.assert_close(PRECONDS["flow-v"].target(x0, eps, sigma), eps - x0)


@pytest.mark.parametrize("prediction", list(Prediction))
def test_flow_interpolant_endpoints_and_time(prediction: Prediction) -> None:
    """x_t = (1 − t)·x₀ + t·ε: x₀ at t = 0, ε at t = 1 (σ = ∞), and 1000·t to the net."""
    precond = FlowPrecond(FLOW, prediction)
    x0, eps = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    sigma = FlowSchedule.sigma_of(t)
    x_t = precond.net_input(x0, eps, sigma)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[1], 0.75 * x0[1] + 0.25 * eps[1])
    torch.testing.assert_close(x_t[2], eps[2])
    torch.testing.assert_close(precond.scalings(sigma).c_noise, 1000 * t)


def test_edm_gives_unit_variance_input_and_target() -> None:
    """Data of std σ_data: c_in·x and the effective target (x₀ − c_skip·x)/c_out have unit
    variance at every σ (Karras et al. 2022, Appendix B.6)."""
    precond = EDMPrecond(sigma_data=0.5)
    gen = torch.Generator().manual_seed(0)
    for sigma in (0.002, 0.1, 0.5, 3.0, 80.0):
        x0 = 0.5 * torch.randn(200_000, generator=gen, dtype=torch.float64)
        eps = torch.randn(200_000, generator=gen, dtype=torch.float64)
        level = torch.full((1,), sigma, dtype=torch.float64)
        x = (x0 + sigma * eps)[None]
        assert precond.net_input(x0[None], eps[None], level).var().item() == pytest.approx(
            1, rel=0.02
        )
        assert precond.output_for(x0[None], x, level).var().item() == pytest.approx(1, rel=0.02)
        assert precond.target(x0[None], eps[None], level).var().item() == pytest.approx(1, rel=0.02)


def test_prior_scale_makes_the_net_input_standard_normal() -> None:
    sigma = 40.0
    assert PRECONDS["vp-eps"].prior_scale(sigma) == pytest.approx((1 + sigma**2) ** 0.5)
    assert PRECONDS["flow-v"].prior_scale(sigma) == pytest.approx(1 + sigma)
    assert PRECONDS["edm"].prior_scale(sigma) == pytest.approx((sigma**2 + 0.25) ** 0.5)


def test_precond_for_and_objective() -> None:
    for prediction, schedule in itertools.product(Prediction, (SCHEDULE, FLOW)):
        precond = precond_for(schedule, prediction)
        assert precond.schedule is schedule and precond.prediction is prediction
    assert isinstance(precond_for(FLOW, Prediction.V), FlowPrecond)
    assert objective_of(FLOW) is Objective.FLOW and objective_of(SCHEDULE) is Objective.DIFFUSION
    assert parse_objective("flow") is Objective.FLOW
    with pytest.raises(ConfigError, match="diffusion, flow"):
        parse_objective("score")
