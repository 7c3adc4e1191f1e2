"""The forward (noising) process and THE one place where ε, v and x₀ are converted into each other.

VP notation: x_t = α·x₀ + σ·ε with α = sqrt(ᾱ_t), σ = sqrt(1 − ᾱ_t) (Ho et al. 2020), and
v = α·ε − σ·x₀ (Salimans & Ho 2022). Every conversion takes α and σ as tensors broadcastable to x
(e.g. (B, 1, 1, 1)); the formulas divide by α² + σ², so they also hold off the VP circle (the
EDM view is α = 1, σ = σ_ve).
"""

from __future__ import annotations

from enum import StrEnum

from torch import Tensor

from trigen.choices import parse_choice
from trigen.diffusion.schedules import NoiseSchedule


class Prediction(StrEnum):
    """What the network outputs."""

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


def v_from(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """v = α·ε − σ·x₀."""
    return alpha * eps - sigma * x0


def target(prediction: Prediction, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The regression target of a network predicting ``prediction`` for x_t = α·x₀ + σ·ε."""
    if prediction is Prediction.EPS:
        return eps
    if prediction is Prediction.X0:
        return x0
    return v_from(x0, eps, alpha, sigma)


def prediction_to_x0(
    prediction: Prediction, out: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor
) -> Tensor:
    """x̂₀ implied by the network output ``out`` at x_t."""
    if prediction is Prediction.X0:
        return out
    if prediction is Prediction.EPS:
        return (x_t - sigma * out) / alpha
    return (alpha * x_t - sigma * out) / (alpha**2 + sigma**2)


def prediction_to_eps(
    prediction: Prediction, out: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor
) -> Tensor:
    """ε̂ implied by the network output ``out`` at x_t."""
    if prediction is Prediction.EPS:
        return out
    if prediction is Prediction.X0:
        return (x_t - alpha * out) / sigma
    return (sigma * x_t + alpha * out) / (alpha**2 + sigma**2)


def convert_prediction(
    out: Tensor,
    source: Prediction,
    dest: Prediction,
    x_t: Tensor,
    alpha: Tensor,
    sigma: Tensor,
) -> Tensor:
    """Re-express an output of kind ``source`` as kind ``dest`` (same x_t, α, σ)."""
    if source is dest:
        return out
    x0 = prediction_to_x0(source, out, x_t, alpha, sigma)
    eps = prediction_to_eps(source, out, x_t, alpha, sigma)
    return target(dest, x0, eps, alpha, sigma)


def snr(alpha: Tensor, sigma: Tensor) -> Tensor:
    """Signal-to-noise ratio α²/σ² (= 1/σ_ve²)."""
    return (alpha / sigma) ** 2
