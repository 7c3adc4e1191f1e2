"""The denoising training objective (Ho et al. 2020), for ε, v or x₀ targets, with min-SNR-γ."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from trigen.diffusion._rng import randint, randn_like
from trigen.diffusion.process import Prediction, alpha_sigma, q_sample, target
from trigen.diffusion.schedules import NoiseSchedule

NetFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``net_fn(x_t (B,C,H,W), t (B,) float32 timestep, y (B,) int64) → output (B,C,H,W)``."""


def min_snr_weight(snr_t: Tensor, gamma: float, prediction: Prediction) -> Tensor:
    """Per-example weight of the min-SNR-γ strategy (Hang et al. 2023) for a given target.

    The rule weights the x₀-space error by min(SNR, γ). Because ‖ε − ε̂‖² = SNR·‖x₀ − x̂₀‖² and
    ‖v − v̂‖² = (SNR + 1)·‖x₀ − x̂₀‖², the same rule on ε or v targets divides by those factors.
    """
    clipped = snr_t.clamp(max=gamma)
    if prediction is Prediction.EPS:
        return clipped / snr_t
    if prediction is Prediction.V:
        return clipped / (snr_t + 1)
    return clipped


def diffusion_loss(
    net_fn: NetFn,
    x0: Tensor,
    y: Tensor,
    schedule: NoiseSchedule,
    prediction: Prediction,
    *,
    min_snr_gamma: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-example denoising loss (B,): the MSE between the net's output and the ``prediction``
    target, averaged over C, H, W, at t drawn uniformly from the T training steps.

    Draws t first, then the noise, both from ``generator`` when given. The network receives t as
    float32. ``min_snr_gamma`` (e.g. 5.0) re-weights each example by :func:`min_snr_weight`.
    """
    B = x0.shape[0]
    t = randint(schedule.num_steps, B, x0, generator)
    noise = randn_like(x0, generator)
    x_t = q_sample(x0, t, noise, schedule)
    alpha, sigma = alpha_sigma(schedule, t, x0)
    out = net_fn(x_t, t.float(), y)
    err = (out.float() - target(prediction, x0, noise, alpha, sigma).float()) ** 2
    loss = err.flatten(1).mean(dim=1)  # (B,)
    if min_snr_gamma is not None:
        ab = schedule.alphas_cumprod.to(t.device)[t]
        snr_t = (ab / (1.0 - ab)).float()  # from the float64 table: exact even for bf16 inputs
        loss = loss * min_snr_weight(snr_t, min_snr_gamma, prediction)
    return loss
