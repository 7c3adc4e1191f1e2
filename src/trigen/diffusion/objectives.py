"""The training objective of U-Net and DiT: denoising (Ho et al. 2020) with ε, v or x₀ targets
and min-SNR-γ, or flow matching (Lipman et al. 2023, Liu et al. 2023) with the velocity target;
one loss for both, through the preconditioner of ``trigen.diffusion.precond``."""

from __future__ import annotations

import torch
from torch import Tensor

from trigen.diffusion.precond import NetFn, precond_for
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import FlowSchedule, Schedule
from trigen.errors import ConfigError
from trigen.rng import randn_like

__all__ = ["FLOW_MIN_SNR", "NetFn", "diffusion_loss", "min_snr_weight"]

FLOW_MIN_SNR = (
    "min-SNR weighting is a diffusion-objective setting; flow matching trains on the plain "
    "velocity MSE: leave min_snr_gamma unset"
)


def min_snr_weight(snr_t: Tensor, gamma: float, prediction: Prediction) -> Tensor:
    """Per-example weight of the min-SNR-γ strategy (Hang et al. 2023) for a given target.

    The rule weights the x₀-space error by min(SNR, γ). Because ‖ε − ε̂‖² = SNR·‖x₀ − x̂₀‖² and
    ‖v − v̂‖² = (SNR + 1)·‖x₀ − x̂₀‖² (x̂₀ − x₀ = c_out·(F − F*), c_out² = 1/SNR for ε and
    1/(SNR + 1) for v), the same rule on ε or v targets divides by those factors.
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
    schedule: Schedule,
    prediction: Prediction,
    *,
    min_snr_gamma: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-example loss (B,): the MSE between the net's output and its ``prediction`` target,
    averaged over C, H, W, at a noise level σ drawn from the schedule.

    A VP :class:`~trigen.diffusion.schedules.NoiseSchedule` draws t uniformly from its T steps;
    a :class:`~trigen.diffusion.schedules.FlowSchedule` draws t ∈ [0, 1) by its time sampling.
    The noise level is drawn first, then the noise, both from ``generator`` when given. The net
    receives x_t = c_in·(x₀ + σ·ε) and c_noise(σ) as float32 (the VP timestep, or 1000·t).
    ``min_snr_gamma`` (e.g. 5.0; VP only) re-weights each example by :func:`min_snr_weight`.
    """
    if min_snr_gamma is not None and isinstance(schedule, FlowSchedule):
        raise ConfigError(FLOW_MIN_SNR)
    precond = precond_for(schedule, prediction)
    sigma = schedule.training_sigmas(x0.shape[0], x0, generator)  # (B,) float64
    noise = randn_like(x0, generator)
    x_t = precond.net_input(x0, noise, sigma)
    out = net_fn(x_t, precond.scalings(sigma).c_noise.float(), y)
    err = (out.float() - precond.target(x0, noise, sigma).float()) ** 2
    loss = err.flatten(1).mean(dim=1)  # (B,)
    if min_snr_gamma is not None:
        snr_t = sigma.pow(-2).float()  # from the float64 table: exact even for bf16 inputs
        loss = loss * min_snr_weight(snr_t, min_snr_gamma, prediction)
    return loss
