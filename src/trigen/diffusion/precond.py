"""THE one place where a network's output becomes a denoiser: preconditioning (EDM, Table 1).

Every parameterisation is written as Karras et al. 2022 (EDM) write theirs, eq. 7: for
x = x₀ + σ·ε the denoiser is

    D(x, σ, y) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ), y)

where F is the raw network. Training regresses F on the target that makes D exact (EDM eq. 8),
F* = (x₀ − c_skip·x) / c_out, which each parameterisation also states in closed form as
F* = a(σ)·x₀ + b(σ)·ε (no division, so it holds at σ = 0 too). The coefficients:

=================  ==============  ===================  ================  ================
network output F   c_skip          c_out                c_in              target a, b
=================  ==============  ===================  ================  ================
VP ε               1               −σ                   1/√(1+σ²)         0, 1
VP v               1/(1+σ²)        −σ/√(1+σ²)           1/√(1+σ²)         −σ/√(1+σ²), 1/√(1+σ²)
VP x₀              0               1                    1/√(1+σ²)         1, 0
flow velocity      1/(1+σ)         −σ/(1+σ)             1/(1+σ)           −1, 1
flow ε             1               −σ                   1/(1+σ)           0, 1
flow x₀            0               1                    1/(1+σ)           1, 0
EDM                σ_d²/(σ²+σ_d²)  σ·σ_d/√(σ²+σ_d²)     1/√(σ²+σ_d²)      see EDMPrecond
=================  ==============  ===================  ================  ================

c_noise is the VP table's fractional timestep t(σ) (EDM's (M − 1)·t_σ⁻¹ column), 1000·σ/(1+σ)
for flow (1000·t), and ln(σ)/4 for EDM. The VP rows are DDPM/DDIM (ε, Ho et al. 2020),
Salimans & Ho 2022 (v = α·ε − σ_vp·x₀ with α = c_in, σ_vp = σ·c_in) and x₀-prediction; the flow
rows are the straight path x_t = (1 − t)·x₀ + t·ε = c_in·x with t = σ/(1+σ) and its velocity
ε − x₀ (rectified flow, SiT). The network's input c_in·x is, in both, the x_t it was trained on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import torch
from torch import Tensor

from trigen.choices import parse_choice
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import FlowSchedule, NoiseSchedule, Schedule

NetFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``net_fn(x_in (B, …), c_noise (B,) float32, y (B,) int64) → F (B, …)``: the raw network."""
EDM_SIGMA_DATA = 0.5
"""σ_data of EDM (Karras et al. 2022, Table 1): the std of images scaled to [-1, 1]."""


class Objective(StrEnum):
    """What a U-Net or DiT learns: VP diffusion on a noise schedule, or flow matching on the
    straight path (rectified flow / SiT's linear interpolant)."""

    DIFFUSION = "diffusion"
    FLOW = "flow"


def parse_objective(objective: Objective | str) -> Objective:
    """Validate an objective name once, at the edge."""
    return parse_choice(Objective, objective, "training objective")


class Scalings(NamedTuple):
    """EDM's c_skip, c_out, c_in and c_noise at a batch of σ, each float64 (B,)."""

    c_skip: Tensor
    c_out: Tensor
    c_in: Tensor
    c_noise: Tensor


def _broadcast(value: Tensor, like: Tensor) -> Tensor:
    """A (B,) coefficient shaped (B, 1, …, 1) against ``like`` and in its dtype and device."""
    shape = (-1,) + (1,) * (like.ndim - 1)
    return value.view(shape).to(like.device, like.dtype)


class Precond(ABC):
    """A parameterisation of the denoiser: the scalings of EDM eq. 7 and the training target."""

    @abstractmethod
    def scalings(self, sigma: Tensor) -> Scalings:
        """c_skip, c_out, c_in, c_noise at σ (B,) (any float dtype), float64."""

    @abstractmethod
    def target_coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """a, b (float64 (B,)) of the training target F* = a·x₀ + b·ε at x = x₀ + σ·ε."""

    def net_input(self, x0: Tensor, eps: Tensor, sigma: Tensor) -> Tensor:
        """c_in·x for x = x₀ + σ·ε, computed as c_in·x₀ + (c_in·σ)·ε: bounded at any σ (the
        network's x_t: q_sample for VP, (1 − t)·x₀ + t·ε for flow)."""
        sigma = sigma.double()
        c_in = self.scalings(sigma).c_in
        return _broadcast(c_in, x0) * x0 + _broadcast(c_in * sigma, eps) * eps

    def target(self, x0: Tensor, eps: Tensor, sigma: Tensor) -> Tensor:
        """What the network should output at x = x₀ + σ·ε: ε, v, x₀, the velocity, …"""
        a, b = self.target_coefficients(sigma.double())
        return _broadcast(a, x0) * x0 + _broadcast(b, eps) * eps

    def output_for(self, x0_hat: Tensor, x: Tensor, sigma: Tensor) -> Tensor:
        """The network output F = (x̂₀ − c_skip·x)/c_out that makes D(x, σ) = x̂₀ (EDM eq. 8);
        c_out must be nonzero (σ > 0)."""
        c = self.scalings(sigma.double())
        return (x0_hat - _broadcast(c.c_skip, x) * x) / _broadcast(c.c_out, x)

    def denoise(self, net_fn: NetFn, x: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
        """D(x, σ, y) = c_skip·x + c_out·F(c_in·x, c_noise, y) → x̂₀ (B, …) in x's dtype, for
        x = x₀ + σ·ε (B, …) at σ (B,)."""
        c = self.scalings(sigma.double())
        out = net_fn(x * _broadcast(c.c_in, x), c.c_noise.float(), y)
        return _broadcast(c.c_skip, x) * x + _broadcast(c.c_out, x) * out

    def prior_scale(self, sigma: float) -> float:
        """The std of x at the first grid level σ₀ when the network's input c_in·x is N(0, I)
        there: the sampler starts from x = prior_scale·z (DDPM's prior for VP, pure noise at
        t_max for flow, the data-plus-noise std for EDM)."""
        return 1.0 / float(self.scalings(torch.tensor([sigma], dtype=torch.float64)).c_in[0])


@dataclass(frozen=True)
class VPPrecond(Precond):
    """ε-, v- or x₀-prediction on a discrete VP ``schedule`` (the VP rows of the table)."""

    schedule: NoiseSchedule
    prediction: Prediction

    def scalings(self, sigma: Tensor) -> Scalings:
        sigma = sigma.double()
        c_in = (1 + sigma**2).rsqrt()
        c_noise = self.schedule.sigma_to_t(sigma)
        if self.prediction is Prediction.EPS:
            return Scalings(torch.ones_like(sigma), -sigma, c_in, c_noise)
        if self.prediction is Prediction.V:
            return Scalings(c_in**2, -sigma * c_in, c_in, c_noise)
        return Scalings(torch.zeros_like(sigma), torch.ones_like(sigma), c_in, c_noise)

    def target_coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor]:
        sigma = sigma.double()
        if self.prediction is Prediction.V:
            c_in = (1 + sigma**2).rsqrt()
            return -sigma * c_in, c_in
        return _plain_target(self.prediction, sigma)


@dataclass(frozen=True)
class FlowPrecond(Precond):
    """Flow matching on the straight path: Prediction.V is the velocity ε − x₀ (rectified flow,
    SiT's default); ε and x₀ as on the VP path (the flow rows of the table)."""

    schedule: FlowSchedule
    prediction: Prediction = Prediction.V

    def scalings(self, sigma: Tensor) -> Scalings:
        sigma = sigma.double()
        c_in = 1 / (1 + sigma)  # 1 − t
        c_noise = self.schedule.sigma_to_t(sigma)
        if self.prediction is Prediction.EPS:
            return Scalings(torch.ones_like(sigma), -sigma, c_in, c_noise)
        if self.prediction is Prediction.V:
            return Scalings(c_in, -sigma * c_in, c_in, c_noise)  # x̂₀ = x_t − t·v̂
        return Scalings(torch.zeros_like(sigma), torch.ones_like(sigma), c_in, c_noise)

    def target_coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor]:
        sigma = sigma.double()
        if self.prediction is Prediction.V:
            return -torch.ones_like(sigma), torch.ones_like(sigma)  # v = ε − x₀
        return _plain_target(self.prediction, sigma)

    def net_input(self, x0: Tensor, eps: Tensor, sigma: Tensor) -> Tensor:
        t = _broadcast(self.schedule.t_of(sigma), x0)  # exact at σ = ∞ (t = 1) too
        return (1 - t) * x0 + t * eps


@dataclass(frozen=True)
class EDMPrecond(Precond):
    """EDM's own preconditioning (Karras et al. 2022, Table 1, last column): unit-variance
    network input and target for data of std ``sigma_data`` at every σ.

    Target: F* = (σ·x₀ − σ_d²·ε) / (σ_d·√(σ² + σ_d²)), the closed form of (x₀ − c_skip·x)/c_out.
    """

    sigma_data: float = EDM_SIGMA_DATA

    def scalings(self, sigma: Tensor) -> Scalings:
        sigma = sigma.double()
        sd2 = self.sigma_data**2
        root = (sigma**2 + sd2).sqrt()
        return Scalings(
            sd2 / (sigma**2 + sd2), sigma * self.sigma_data / root, 1 / root, sigma.log() / 4
        )

    def target_coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor]:
        sigma = sigma.double()
        root = (sigma**2 + self.sigma_data**2).sqrt()
        return sigma / (self.sigma_data * root), -self.sigma_data / root


def _plain_target(prediction: Prediction, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """ε- and x₀-prediction regress on ε and x₀ on any path."""
    one, zero = torch.ones_like(sigma), torch.zeros_like(sigma)
    return (zero, one) if prediction is Prediction.EPS else (one, zero)


def precond_for(schedule: Schedule, prediction: Prediction) -> Precond:
    """The preconditioner of a network predicting ``prediction`` on ``schedule``: VP for a
    :class:`NoiseSchedule`, flow matching for a :class:`FlowSchedule`."""
    if isinstance(schedule, FlowSchedule):
        return FlowPrecond(schedule, prediction)
    return VPPrecond(schedule, prediction)


def objective_of(schedule: Schedule) -> Objective:
    """Which objective a schedule belongs to."""
    return Objective.FLOW if isinstance(schedule, FlowSchedule) else Objective.DIFFUSION


__all__ = [
    "EDMPrecond",
    "FlowPrecond",
    "NetFn",
    "Objective",
    "Precond",
    "Scalings",
    "VPPrecond",
    "objective_of",
    "parse_objective",
    "precond_for",
]
