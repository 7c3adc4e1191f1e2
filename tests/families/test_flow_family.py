"""Flow matching in the diffusion family: exact velocity → exact samples, same samplers and
guidance as VP, a tiny U-Net learns, no ELBO, and the config selects it."""

import dataclasses

import pytest
import torch
from torch import nn

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig, load_config
from trigen.diffusion.precond import FlowPrecond, Objective
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import FLOW_T_MAX, FlowSchedule, NoiseSchedule, TimeSampling
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.families.diffusion import DiffusionFamily

SHAPE = (1, 4, 4)
MEAN, STD = 0.4, 0.3  # per-pixel Gaussian data: E[x₀ | x] is known in closed form


class GaussianVelocity(nn.Module):
    """The exact flow velocity E[ε − x₀ | x_t] of N(MEAN, STD²) data, from the net's inputs
    x_t (B, …) and 1000·t; the label shifts nothing. Records the inputs it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.seen.append((x_t, t, y))
        t = (t.double() / 1000).view(-1, 1, 1, 1)
        sigma = t / (1 - t)
        x = x_t.double() / (1 - t)  # = x₀ + σ·ε
        x0 = MEAN + STD**2 / (STD**2 + sigma**2) * (x - MEAN)
        eps = (x - x0) / sigma
        return (eps - x0).to(x_t.dtype) + 0 * self.dummy


def flow_family(net: nn.Module | None = None, **kw) -> DiffusionFamily:
    kw = {"data_range": None, "clip_denoised": False} | kw
    return DiffusionFamily(net or GaussianVelocity(), FlowSchedule(), "v", 3, SHAPE, **kw)


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 100), ("heun", 20), ("dpmpp_2m", 40)])
def test_exact_velocity_samples_the_data_distribution(sampler: str, steps: int) -> None:
    """Euler (= DDIM η=0), Heun and DPM-Solver++(2M) on the uniform-t grid from t_max; the
    first-order Euler needs the most steps (−1.4 % std at 100)."""
    fam = flow_family()
    labels = torch.arange(1000) % 3
    spec = SampleSpec(sampler=sampler, steps=steps, grid="trailing")
    x = fam.sample(labels, spec, torch.Generator().manual_seed(0))
    assert x.mean().item() == pytest.approx(MEAN, abs=0.01)
    assert x.std().item() == pytest.approx(STD, rel=0.03)


def test_sampling_starts_from_pure_noise_at_t_max_on_a_uniform_t_grid() -> None:
    fam = flow_family()
    fam.sample(torch.arange(1000) % 3, SampleSpec(steps=4), torch.Generator().manual_seed(0))
    first_input = fam.net.seen[0][0]
    assert first_input.std().item() == pytest.approx(1.0, rel=0.03)  # x_t at t_max is z
    times = [t[0].item() for _, t, _ in fam.net.seen]
    assert times == pytest.approx([1000 * FLOW_T_MAX * (1 - k / 4) for k in range(4)], rel=1e-6)


def test_guidance_at_scale_one_is_the_conditional_denoiser() -> None:
    class LabelNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.y_embedder = nn.Embedding(4, 1)

        def forward(self, x, t, y):
            return torch.tanh(x) * self.y_embedder(y)[:, :, None, None] + t.view(-1, 1, 1, 1) / 1e3

    fam = flow_family(net=LabelNet())
    x, sigma, labels = torch.randn(2, *SHAPE), torch.tensor([0.5, 4.0]), torch.tensor([0, 2])
    cond = fam.denoiser(labels)(x, sigma)
    torch.testing.assert_close(fam.denoiser(labels, 1.0)(x, sigma), cond)
    uncond = fam.denoiser(torch.full_like(labels, fam.null_class))(x, sigma)
    torch.testing.assert_close(fam.denoiser(labels, 3.0)(x, sigma), uncond + 3 * (cond - uncond))


def test_flow_has_no_elbo_and_no_min_snr() -> None:
    fam = flow_family()
    assert fam.objective is Objective.FLOW and isinstance(fam.precond, FlowPrecond)
    with pytest.raises(ConfigError, match="flow-matching models have no likelihood"):
        fam.nll(Batch(torch.zeros(2, *SHAPE), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ConfigError, match="min_snr_gamma"):
        flow_family(min_snr_gamma=5.0)


def test_a_tiny_flow_unet_learns() -> None:
    """A few Adam steps on a fixed batch lower the loss at fixed times and noise."""
    cfg = TrainConfig.from_dict(
        {
            "family": "unet",
            "diffusion": {"objective": "flow"},
            "model_overrides": {"model_channels": 8, "num_res_blocks": 1},
        }
    )
    torch.manual_seed(0)
    fam = build_family(cfg, DataSpec((1, 8, 8), 2))
    assert isinstance(fam.schedule, FlowSchedule) and fam.min_snr_gamma is None
    images = torch.zeros(16, 1, 8, 8)
    images[:, :, 2:6, 2:6] = 1.0  # a square on black: one image to learn
    batch = Batch(images - 0.5, torch.arange(16) % 2)

    def held_out() -> float:
        with torch.no_grad():
            return fam.loss(batch, torch.Generator().manual_seed(1)).mean().item()

    before = held_out()
    opt = torch.optim.Adam(fam.net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        opt.zero_grad()
        fam.loss(batch, gen).mean().backward()
        opt.step()
    assert held_out() < 0.7 * before


def test_config_selects_flow_and_round_trips() -> None:
    cfg = load_config(
        None,
        [
            "diffusion.objective='flow'",
            "diffusion.flow_time='uniform'",
            "diffusion.logit_mean=0.5",
        ],
    )
    assert cfg.diffusion.objective is Objective.FLOW
    assert cfg.diffusion.flow_time is TimeSampling.UNIFORM
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    fam = build_family(dataclasses.replace(cfg, family="unet"), DataSpec((1, 8, 8), 0))
    assert fam.schedule == FlowSchedule(TimeSampling.UNIFORM, 0.5, 1.0)
    assert fam.prediction is Prediction.V
    vp = build_family(TrainConfig(family="unet"), DataSpec((1, 8, 8), 0))
    assert isinstance(vp.schedule, NoiseSchedule) and vp.objective is Objective.DIFFUSION
    with pytest.raises(ConfigError, match="diffusion, flow"):
        load_config(None, ["diffusion.objective='edm'"])
    with pytest.raises(ConfigError, match="logit_std"):
        load_config(None, ["diffusion.objective='flow'", "diffusion.logit_std=0"])
