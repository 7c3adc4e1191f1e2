"""DiffusionFamily with a tiny stand-in backbone: loss, sampling, guidance, likelihood, errors."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from trigen.batch import Batch
from trigen.diffusion.process import Prediction
from trigen.diffusion.samplers import Sampler, parse_sampler
from trigen.diffusion.schedules import NoiseSchedule, Spacing
from trigen.errors import ConfigError, DataError
from trigen.families.base import Family, SampleSpec
from trigen.families.diffusion import DiffusionFamily, nfe

SHAPE = (2, 4, 4)
SCHEDULE = NoiseSchedule.linear(T=100, beta_start=1e-3, beta_end=0.1)


class TinyNet(nn.Module):
    """Channel mixing, timestep and label biases, a per-pixel map; out_mult 2 = learned σ."""

    def __init__(self, num_classes: int, out_mult: int = 1) -> None:
        super().__init__()
        c_out = SHAPE[0] * out_mult
        self.mix = nn.Linear(SHAPE[0], c_out)  # a 1×1 conv, without oneDNN's per-call overhead
        self.t_embedder = nn.Linear(2, c_out)
        self.y_embedder = nn.Embedding(num_classes + 1, c_out)
        self.canvas = nn.Parameter(torch.zeros(c_out, *SHAPE[1:]))
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.seen.append((t, y))
        phase = t[:, None] / 1000 * torch.tensor([1.0, 2.0])
        bias = self.t_embedder(torch.sin(phase)) + self.y_embedder(y)  # (B, C_out)
        mixed = self.mix(x.movedim(1, -1)).movedim(-1, 1)  # (B, C_out, H, W)
        return mixed + bias[:, :, None, None] + self.canvas


def family(num_classes: int = 3, prediction="eps", **kw) -> DiffusionFamily:
    net = kw.pop("net", None) or TinyNet(num_classes)
    return DiffusionFamily(net, SCHEDULE, prediction, num_classes, SHAPE, **kw)


def batch(b: int = 8) -> Batch:
    return Batch(torch.rand(b, *SHAPE) * 2 - 1, torch.arange(b) % 3)


def test_is_a_family_and_replace_keeps_settings() -> None:
    fam = family(prediction="v", min_snr_gamma=5.0)
    assert isinstance(fam, Family) and fam.prediction is Prediction.V
    ema = dataclasses.replace(fam, net=TinyNet(3))
    assert ema.net is not fam.net and ema.min_snr_gamma == 5.0


@pytest.mark.parametrize("prediction", list(Prediction))
def test_loss_shape_and_gradients(prediction: Prediction) -> None:
    fam = family(prediction=prediction, min_snr_gamma=5.0)
    data = batch()
    loss = fam.loss(data, torch.Generator().manual_seed(0))
    assert loss.shape == (8,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert all(p.grad is not None for p in fam.net.parameters())
    again = fam.loss(data, torch.Generator().manual_seed(0))
    assert torch.equal(loss.detach(), again.detach())


def test_label_dropout_uses_the_null_class() -> None:
    fam = family(label_dropout=0.5)
    b = Batch(torch.zeros(4000, *SHAPE), torch.ones(4000, dtype=torch.long))
    fam.loss(b, torch.Generator().manual_seed(0))
    _, y = fam.net.seen[-1]
    assert set(y.tolist()) == {1, 3}  # kept label or null (= num_classes)
    assert (y == 3).float().mean().item() == pytest.approx(0.5, abs=0.05)
    uncond = family(num_classes=0, label_dropout=0.0)
    uncond.loss(batch(), None)
    assert (uncond.net.seen[-1][1] == 0).all()


def test_overfits_one_image_with_x0_prediction() -> None:
    fam = family(prediction="x0", label_dropout=0.0)
    b = Batch(torch.rand(1, *SHAPE).expand(16, *SHAPE) * 2 - 1, torch.zeros(16, dtype=torch.long))
    gen = torch.Generator().manual_seed(0)
    first = fam.loss(b, gen).mean().item()
    for _ in range(150):  # plain gradient descent: torch.optim's first use imports for seconds
        fam.net.zero_grad()
        fam.loss(b, gen).mean().backward()
        with torch.no_grad():
            for p in fam.net.parameters():
                p -= 0.3 * p.grad
    last = torch.stack([fam.loss(b, gen).mean() for _ in range(5)]).mean().item()
    assert last < first / 10


@pytest.mark.parametrize("sampler", list(Sampler), ids=lambda s: s.value)
def test_sample_shape_range_determinism(sampler: Sampler) -> None:
    fam = family(clip_denoised=False)
    fam.net.canvas.data.fill_(3.0)  # push raw outputs out of range: the final clamp must hold
    spec = SampleSpec(sampler=sampler.value, steps=4, eta=0.5, cfg=2.0)
    labels = torch.tensor([0, 1, 2, 3])
    out = fam.sample(labels, spec, torch.Generator().manual_seed(1))
    assert out.shape == (4, *SHAPE) and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, fam.sample(labels, spec, torch.Generator().manual_seed(1)))
    fam.net.seen.clear()
    fam.sample(labels, dataclasses.replace(spec, cfg=1.0), torch.Generator())
    assert len(fam.net.seen) == nfe(sampler, 4)
    assert fam.net.seen[0][0][0].item() == pytest.approx(99.0)  # starts at t = T−1 (trailing)


def _timesteps_seen(fam: DiffusionFamily, spec: SampleSpec) -> list[float]:
    """The distinct network timesteps of one sampling run, decreasing."""
    fam.net.seen.clear()
    fam.sample(torch.tensor([0, 1]), spec, torch.Generator().manual_seed(0))
    return sorted({round(t[0].item(), 3) for t, _ in fam.net.seen}, reverse=True)


@pytest.mark.parametrize(
    ("spec", "grid"),
    [
        (SampleSpec(sampler="heun", steps=4), Spacing.KARRAS),  # Heun's own default
        (SampleSpec(sampler="ddim", steps=4), Spacing.TRAILING),  # the family's spacing
        (SampleSpec(sampler="ddim", steps=4, grid="karras"), Spacing.KARRAS),
        (SampleSpec(sampler="heun", steps=4, grid="trailing"), Spacing.TRAILING),
        (SampleSpec(sampler="dpmpp_2m", steps=4, grid=Spacing.LINSPACE), Spacing.LINSPACE),
    ],
)
def test_sample_spec_picks_the_grid(spec: SampleSpec, grid: Spacing) -> None:
    fam = family()
    expected = SCHEDULE.sampling_timesteps(spec.steps, grid).double().tolist()
    assert _timesteps_seen(fam, spec) == expected
    assert fam.grid(parse_sampler(spec.sampler), spec.grid) is grid


def test_karras_rho_reaches_the_sampler() -> None:
    fam = family()
    seen = {
        rho: _timesteps_seen(fam, SampleSpec(steps=6, grid="karras", rho=rho)) for rho in (1, 7)
    }
    assert seen[1] == SCHEDULE.sampling_timesteps(6, "karras", rho=1.0).double().tolist()
    assert seen[1] != seen[7]


def test_learned_sigma_channels_are_ignored() -> None:
    fam = family(net=TinyNet(3, out_mult=2))
    assert fam.loss(batch(), None).shape == (8,)
    assert fam.sample(torch.tensor([0, 1]), SampleSpec(steps=3)).shape == (2, *SHAPE)


def test_denoiser_undoes_the_vp_scaling() -> None:
    """A zero output means ε̂ = 0 (x̂₀ = x), v̂ = 0 (x̂₀ = x/(1+σ²)) or x̂₀ = 0, in σ space."""
    x = torch.randn(3, *SHAPE)
    sigma = torch.tensor([0.5, 2.0, 10.0])
    scale = {Prediction.EPS: 1 / (1 + 0 * sigma), Prediction.V: 1 / (1 + sigma**2)}
    scale[Prediction.X0] = 0 * sigma
    for prediction, s in scale.items():
        fam = family(prediction=prediction, clip_denoised=False)
        for p in fam.net.parameters():
            nn.init.zeros_(p)
        x0 = fam.denoiser(torch.tensor([0, 1, 2]))(x, sigma)
        assert torch.allclose(x0, x * s.view(-1, 1, 1, 1), atol=1e-5)
    t = fam.net.seen[-1][0]
    assert torch.allclose(t.double(), SCHEDULE.sigma_to_t(sigma), atol=1e-4)


def test_guidance_is_the_cfg_combination_of_x0() -> None:
    fam = family(clip_denoised=False)
    x, sigma = torch.randn(2, *SHAPE), torch.tensor([1.0, 3.0])
    labels = torch.tensor([0, 2])
    cond = fam.denoiser(labels)(x, sigma)
    uncond = fam.denoiser(torch.full_like(labels, 3))(x, sigma)
    assert torch.allclose(fam.denoiser(labels, 1.0)(x, sigma), cond)
    assert torch.allclose(
        fam.denoiser(labels, 4.0)(x, sigma), uncond + 4 * (cond - uncond), atol=1e-5
    )


def test_nll_is_nats_per_image() -> None:
    fam = family(nll_num_t=5)
    data = batch(4)
    nll = fam.nll(data, torch.Generator().manual_seed(0))
    assert nll.shape == (4,) and (nll > 0).all()
    assert torch.equal(nll, fam.nll(data, torch.Generator().manual_seed(0)))
    bound = dataclasses.replace(fam, nll_num_t=None).nll(batch(2))  # all T terms
    assert bound.shape == (2,) and (bound / math.prod(SHAPE) > 0).all()


def test_user_errors() -> None:
    with pytest.raises(ConfigError, match="unconditional"):
        family(num_classes=0).sample(torch.zeros(2, dtype=torch.long), SampleSpec(cfg=3.0))
    with pytest.raises(ConfigError, match="unknown sampler"):
        family().sample(torch.zeros(2, dtype=torch.long), SampleSpec(sampler="euler"))
    with pytest.raises(ConfigError, match="steps"):
        family().sample(torch.zeros(2, dtype=torch.long), SampleSpec(steps=101))
    with pytest.raises(ConfigError, match="leading, trailing, linspace, karras"):
        family().sample(torch.zeros(2, dtype=torch.long), SampleSpec(grid="exponential"))
    with pytest.raises(ConfigError, match="rho"):
        family().sample(torch.zeros(2, dtype=torch.long), SampleSpec(grid="karras", rho=-1.0))
    with pytest.raises(DataError, match="labels"):
        family().sample(torch.tensor([0, 4]), SampleSpec())
    with pytest.raises(ConfigError, match="prediction"):
        family(prediction="score")
    with pytest.raises(ConfigError, match="label_dropout"):
        family(label_dropout=1.0)


@pytest.mark.parametrize("sampler", ["ddim", "heun", "dpmpp_3m"])
def test_sample_calls_back_once_per_step_and_ends_on_the_sample(sampler) -> None:
    fam = family()
    seen = []
    spec = SampleSpec(sampler=sampler, steps=4)
    out = fam.sample(
        torch.tensor([0, 1]), spec, torch.Generator().manual_seed(0), callback=seen.append
    )
    assert [s.i for s in seen] == [0, 1, 2, 3] and all(s.n == 4 for s in seen)
    sigmas = [s.sigma for s in seen]
    assert sigmas == sorted(sigmas, reverse=True) and seen[-1].sigma_next == 0
    torch.testing.assert_close(seen[-1].denoised.clamp(-1, 1), out)
    again = fam.sample(torch.tensor([0, 1]), spec, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # watching changes nothing


def test_a_spec_field_the_sampler_does_not_take_is_ignored_like_any_other() -> None:
    fam, labels = family(), torch.tensor([0, 1])
    plain = fam.sample(labels, SampleSpec(sampler="dpmpp_2m", steps=3), torch.Generator())
    noisy = SampleSpec(sampler="dpmpp_2m", steps=3, eta=0.7, s_churn=2.0)
    assert torch.equal(plain, fam.sample(labels, noisy, torch.Generator()))
