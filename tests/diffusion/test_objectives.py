"""The denoising loss: its target matches q_sample; min-SNR-γ is one rule for all targets."""

import pytest
import torch

from trigen.diffusion.objectives import diffusion_loss, min_snr_weight
from trigen.diffusion.precond import VPPrecond
from trigen.diffusion.process import Prediction, alpha_sigma
from trigen.diffusion.schedules import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()


def _x0_batch(b: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(b, 2, 4, 4) * 2 - 1, torch.zeros(b, dtype=torch.long)


def _shrinking_net(prediction: Prediction):
    """A fixed, imperfect denoiser (x̂₀ = 0.5·x_t) expressed in ``prediction``'s parameterisation."""

    def net_fn(x_t, t, y):
        alpha, sigma = alpha_sigma(SCHEDULE, t.long(), x_t)
        sigma_ve = (sigma / alpha).flatten()  # x_t = α·x in the σ view x = x₀ + σ_ve·ε
        return VPPrecond(SCHEDULE, prediction).output_for(0.5 * x_t, x_t / alpha, sigma_ve)

    return net_fn


def test_shape_timesteps_and_determinism() -> None:
    x0, y = _x0_batch()
    seen = []

    def net_fn(x_t, t, y):
        seen.append(t)
        return torch.zeros_like(x_t)

    gen = torch.Generator().manual_seed(3)
    loss = diffusion_loss(net_fn, x0, y, SCHEDULE, Prediction.EPS, generator=gen)
    assert loss.shape == (64,) and (loss >= 0).all()
    t = seen[0]
    assert t.dtype == torch.float32 and t.min() >= 0 and t.max() < 1000 and len(t.unique()) > 30
    again = diffusion_loss(
        net_fn, x0, y, SCHEDULE, Prediction.EPS, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(loss, again)


@pytest.mark.parametrize("prediction", list(Prediction))
def test_oracle_that_knows_x0_has_zero_loss(prediction: Prediction) -> None:
    x0, y = _x0_batch()

    def oracle(x_t, t, y):
        alpha, sigma = alpha_sigma(SCHEDULE, t.long(), x_t)
        eps = (x_t - alpha * x0) / sigma
        return VPPrecond(SCHEDULE, prediction).target(x0, eps, (sigma / alpha).flatten())

    loss = diffusion_loss(oracle, x0, y, SCHEDULE, prediction)
    assert loss.max() < 1e-8


def test_min_snr_weights() -> None:
    snr = torch.logspace(-6, 6, 200)
    w_eps = min_snr_weight(snr, 5.0, Prediction.EPS)
    w_v = min_snr_weight(snr, 5.0, Prediction.V)
    assert (w_eps <= 1).all() and (w_v <= 1).all() and (w_eps > 0).all()
    assert torch.allclose(min_snr_weight(snr, 5.0, Prediction.X0), snr.clamp(max=5.0))
    assert torch.equal(w_eps[snr < 5], torch.ones_like(w_eps[snr < 5]))  # no change below γ


def test_min_snr_is_one_rule_in_every_parameterisation() -> None:
    """Weighted ε-, v- and x₀-losses of the same x̂₀ equal min(SNR, γ)·‖x₀ − x̂₀‖² alike."""
    x0, y = _x0_batch()
    losses = [
        diffusion_loss(
            _shrinking_net(p),
            x0,
            y,
            SCHEDULE,
            p,
            min_snr_gamma=5.0,
            generator=torch.Generator().manual_seed(0),
        )
        for p in Prediction
    ]
    for other in losses[1:]:
        assert torch.allclose(other, losses[0], rtol=1e-3, atol=1e-6)
