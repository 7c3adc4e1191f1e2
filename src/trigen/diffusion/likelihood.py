"""The DDPM variational bound (Ho et al. 2020, eq. 5) in nats per image.

−log p(x₀) ≤ L_T + Σ_{t>1} L_{t−1} + L_0, with (DDPM's t = index + 1):

* L_T = KL(q(x_T | x₀) ‖ N(0, I)), the prior term, exact.
* L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ p(x_{t−1} | x_t)) with the model posterior N(μ̃(x_t, x̂₀), β̃_t):
  both Gaussians share the variance β̃_t, so the KL is c_t²·‖x₀ − x̂₀‖² / (2β̃_t), where
  c_t = sqrt(ᾱ_{t−1})·β_t/(1 − ᾱ_t) is the posterior mean's coefficient on x₀.
* L_0 = −log p(x₀ | x_1), a Gaussian N(x̂₀, β̃) integrated over each of the 256 bins of width 2/255
  (the edge bins extend to ±∞). β̃ at t = 1 is 0, so its log is clipped to β̃ at t = 2, as in
  Nichol & Dhariwal's code.

Each term is a one-sample estimate over x_t ~ q(x_t | x₀); the sum over t is either exact (all T
terms) or an unbiased Monte-Carlo estimate T·mean over t drawn uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from trigen.diffusion.process import q_sample
from trigen.diffusion.schedules import NoiseSchedule
from trigen.errors import ConfigError
from trigen.rng import randint, randn_like

X0Fn = Callable[[Tensor, Tensor], Tensor]
"""``x0_fn(x_t (B,C,H,W) VP-scaled, t_index (B,) int64) → x̂₀ (B,C,H,W)``."""

BIN_HALF_WIDTH = 1.0 / 255.0
"""Half the width of one of the 256 levels of data scaled to [-1, 1]."""
EDGE = 0.999
"""Pixels beyond ±EDGE sit in an edge bin, which absorbs all mass out to ±∞."""


def _log_diff_ndtr(a: Tensor, b: Tensor) -> Tensor:
    """log(Φ(b) − Φ(a)) for a < b, computed on the tail where it keeps precision."""
    flip = a > 0  # use Φ(b) − Φ(a) = Φ(−a) − Φ(−b) on the right tail
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log1p(-torch.exp(log_lo - log_hi).clamp(max=1 - 1e-15))


def discretized_gaussian_nll(x0: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """−log P(x₀) per element (nats) under N(mean, exp(log_var)) integrated over x₀'s 8-bit bin."""
    x0, mean = x0.double(), mean.double()
    inv_std = torch.exp(-0.5 * log_var.double())
    upper = (x0 - mean + BIN_HALF_WIDTH) * inv_std
    lower = (x0 - mean - BIN_HALF_WIDTH) * inv_std
    log_p = torch.where(
        x0 < -EDGE,
        torch.special.log_ndtr(upper),
        torch.where(x0 > EDGE, torch.special.log_ndtr(-lower), _log_diff_ndtr(lower, upper)),
    )
    return -log_p


def _tables(schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    """Per-index KL weights c_t²/(2β̃_t) (T,) (index 0 unused) and the clipped log β̃ (T,)."""
    ab = schedule.alphas_cumprod
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    betas = 1.0 - ab / ab_prev
    post_var = betas * (1.0 - ab_prev) / (1.0 - ab)  # β̃_t; 0 at index 0
    log_var = torch.cat([post_var[1:2], post_var[1:]]).log()
    coef = ab_prev.sqrt() * betas / (1.0 - ab)
    weight = coef**2 / (2.0 * torch.cat([post_var[1:2], post_var[1:]]))
    return weight, log_var


def prior_kl(x0: Tensor, schedule: NoiseSchedule) -> Tensor:
    """L_T in nats per image (B,): KL(N(sqrt(ᾱ_T)x₀, 1 − ᾱ_T) ‖ N(0, 1)) summed over dims."""
    ab = float(schedule.alphas_cumprod[-1])
    x0 = x0.double()
    kl = 0.5 * (-math.log(1.0 - ab) + (1.0 - ab) + ab * x0**2 - 1.0)
    return kl.flatten(1).sum(dim=1)


def vb_term(
    x0_fn: X0Fn,
    x0: Tensor,
    t: Tensor,
    schedule: NoiseSchedule,
    noise: Tensor,
    tables: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """One-sample estimate of the bound's term at indices ``t`` (B,): nats per image (B,), float64.

    Index 0 gives the decoder NLL L_0; index ≥ 1 the KL L_{t−1} in DDPM's numbering. ``tables``
    caches ``_tables(schedule)`` across calls.
    """
    tables = _tables(schedule) if tables is None else tables
    weight, log_var = (table.to(x0.device)[t] for table in tables)
    x_t = q_sample(x0, t, noise, schedule)
    x0_hat = x0_fn(x_t, t).double()
    shape = (-1,) + (1,) * (x0.ndim - 1)
    kl = weight.view(shape) * (x0.double() - x0_hat) ** 2
    decoder = discretized_gaussian_nll(x0, x0_hat, log_var.view(shape).expand_as(x0_hat))
    per_elem = torch.where((t == 0).view(shape), decoder, kl)
    return per_elem.flatten(1).sum(dim=1)


def elbo_nats(
    x0_fn: X0Fn,
    x0: Tensor,
    schedule: NoiseSchedule,
    *,
    num_t: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Upper bound on −log p(x₀) in nats per image (B,), float64, for x₀ (B,C,H,W) in [-1, 1].

    ``num_t=None`` evaluates all T terms (T calls of ``x0_fn`` on the batch); an int draws that
    many timesteps uniformly per image and returns the unbiased estimate T·mean + L_T. Noise (and
    timesteps) come from ``generator``. Divide by C·H·W·ln 2 for bits/dim.
    """
    T, B = schedule.num_steps, x0.shape[0]
    tables = _tables(schedule)
    total = prior_kl(x0, schedule)
    if num_t is None:
        for t in range(T):
            idx = torch.full((B,), t, dtype=torch.long, device=x0.device)
            noise = randn_like(x0, generator)
            total = total + vb_term(x0_fn, x0, idx, schedule, noise, tables)
        return total
    if num_t < 1:
        raise ConfigError(f"the ELBO needs num_t ≥ 1 Monte-Carlo timesteps (or None), got {num_t}")
    terms = torch.zeros_like(total)
    for _ in range(num_t):
        idx = randint(T, B, x0, generator)
        noise = randn_like(x0, generator)
        terms = terms + vb_term(x0_fn, x0, idx, schedule, noise, tables)
    return total + terms * (T / num_t)
