"""The DDPM variational bound: non-negative, sharper for better denoisers, unbiased when sampled."""

import pytest
import torch

from trigen.diffusion.likelihood import discretized_gaussian_nll, elbo_nats, prior_kl, vb_term
from trigen.diffusion.process import alpha_sigma
from trigen.diffusion.schedules import NoiseSchedule
from trigen.errors import ConfigError

# A short schedule that still ends near pure noise keeps the full sums cheap.
SCHEDULE = NoiseSchedule.linear(T=50, beta_start=1e-3, beta_end=0.2)
LEVELS = torch.arange(256, dtype=torch.float64) / 127.5 - 1  # the 256 values of 8-bit data


def _images(b: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (b, 1, 4, 4)) / 127.5 - 1


@pytest.mark.parametrize(("mean", "log_var"), [(0.0, -2.0), (0.9, -8.0), (-1.3, 0.5), (0.3, -14)])
def test_discretized_gaussian_is_a_distribution_over_256_levels(
    mean: float, log_var: float
) -> None:
    nll = discretized_gaussian_nll(
        LEVELS, torch.full_like(LEVELS, mean), torch.full_like(LEVELS, log_var)
    )
    assert (nll >= 0).all()
    assert (-nll).exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_sharp_decoder_on_the_right_level_costs_nothing() -> None:
    nll = discretized_gaussian_nll(LEVELS, LEVELS, torch.full_like(LEVELS, -20.0))
    assert nll.max() < 1e-6


def test_elbo_nonnegative_and_better_denoiser_is_tighter() -> None:
    x0 = _images()

    def shrink(x_t, t):
        alpha, _ = alpha_sigma(SCHEDULE, t, x_t)
        return alpha * x_t

    gen = torch.Generator().manual_seed(0)
    oracle = elbo_nats(lambda x_t, t: x0, x0, SCHEDULE, generator=gen)
    fair = elbo_nats(shrink, x0, SCHEDULE, generator=gen)
    bad = elbo_nats(lambda x_t, t: torch.zeros_like(x_t), x0, SCHEDULE, generator=gen)
    assert oracle.shape == (4,) and oracle.dtype == torch.float64
    assert (oracle > 0).all() and (oracle < fair).all() and (fair < bad).all()
    # the oracle pays only the prior and the decoder's bin mass: a few nats per dim at most
    assert (oracle - prior_kl(x0, SCHEDULE) < 16 * 3).all()


def test_prior_term() -> None:
    x0 = _images()
    assert (prior_kl(x0, SCHEDULE) >= 0).all()
    cosine = NoiseSchedule.cosine()
    assert prior_kl(x0, cosine).max() < 1e-3  # ᾱ_T ≈ 0: q(x_T | x₀) ≈ N(0, I)


def test_monte_carlo_estimate_is_unbiased() -> None:
    """With a noise-free error (x̂₀ = x₀ + 0.1) the full sum is exact, so the MC mean must match
    it within its own standard error (computed from the per-t terms)."""
    x0 = _images(2)
    x0_fn = lambda x_t, t: x0 + 0.1  # noqa: E731
    full = elbo_nats(x0_fn, x0, SCHEDULE)
    terms = torch.stack(
        [vb_term(x0_fn, x0, torch.full((2,), t), SCHEDULE, torch.zeros_like(x0)) for t in range(50)]
    )  # (T, B)
    num_t = 1000
    mc = elbo_nats(x0_fn, x0, SCHEDULE, num_t=num_t, generator=torch.Generator().manual_seed(1))
    se = 50 * terms.std(0) / num_t**0.5
    assert ((mc - full).abs() < 4 * se).all()
    assert torch.allclose(full, terms.sum(0) + prior_kl(x0, SCHEDULE))


def test_deterministic_given_generator_and_validates() -> None:
    x0 = _images(2)
    fn = lambda x_t, t: 0.5 * x_t  # noqa: E731
    a = elbo_nats(fn, x0, SCHEDULE, num_t=3, generator=torch.Generator().manual_seed(4))
    b = elbo_nats(fn, x0, SCHEDULE, num_t=3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError):
        elbo_nats(fn, x0, SCHEDULE, num_t=0)
