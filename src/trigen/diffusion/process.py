"""The forward (noising) process of the discrete VP schedules, and the prediction types.

VP notation: x_t = α·x₀ + σ·ε with α = sqrt(ᾱ_t), σ = sqrt(1 − ᾱ_t) (Ho et al. 2020). What a
network's ε, v or x₀ output means, and how it becomes x̂₀, is ``trigen.diffusion.precond``'s.
"""

from __future__ import annotations

from enum import StrEnum

from torch import Tensor

from trigen.choices import parse_choice
from trigen.diffusion.schedules import NoiseSchedule


class Prediction(StrEnum):
    """What the network outputs: ε, v (the velocity of the path: Salimans & Ho's α·ε − σ·x₀ on
    the VP path, ε − x₀ on the flow path) or x₀."""

    EPS = "eps"
    V = "v"
    X0 = "x0"


def parse_prediction(prediction: Prediction | str) -> Prediction:
    """Validate a prediction-type name once, at the edge."""
    return parse_choice(Prediction, prediction, "prediction type")


def alpha_sigma(schedule: NoiseSchedule, t_index: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """α_t = sqrt(ᾱ_t) and σ_t = sqrt(1 − ᾱ_t) for integer timesteps ``t_index`` (B,), shaped
    (B, 1, …, 1) to broadcast against ``like`` (B, …) and in its dtype and device."""
    ab = schedule.alphas_cumprod.to(t_index.device)[t_index.long()]
    shape = (-1,) + (1,) * (like.ndim - 1)
    alpha = ab.sqrt().view(shape).to(like.device, like.dtype)
    sigma = (1.0 - ab).sqrt().view(shape).to(like.device, like.dtype)
    return alpha, sigma


def q_sample(x0: Tensor, t_index: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Draw x_t ~ q(x_t | x₀) = N(α_t·x₀, σ_t²·I) given the standard normal ``noise`` (like x₀)."""
    alpha, sigma = alpha_sigma(schedule, t_index, x0)
    return alpha * x0 + sigma * noise


def snr(alpha: Tensor, sigma: Tensor) -> Tensor:
    """Signal-to-noise ratio α²/σ² (= 1/σ_ve²)."""
    return (alpha / sigma) ** 2
