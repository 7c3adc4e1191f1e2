"""Denoising error at low noise: oracles score 0, a do-nothing net scores σ², draws are seeded."""

import numpy as np
import pytest
import torch
from torch import nn

from trigen.diffusion.precond import VPPrecond
from trigen.diffusion.process import Prediction
from trigen.diffusion.schedules import NoiseSchedule
from trigen.errors import ConfigError, DataError
from trigen.eval.denoising import denoising_mse
from trigen.families.diffusion import DiffusionFamily

SHAPE = (2, 6, 6)
SCHEDULE = NoiseSchedule.linear(T=200, beta_start=1e-3, beta_end=0.05)
SIGMAS = (0.05, 0.1, 0.2)


class TinyNet(nn.Module):
    """A per-pixel channel mix with a timestep and label bias: enough to be a real backbone."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.mix = nn.Linear(SHAPE[0], SHAPE[0])
        self.t_embedder = nn.Linear(1, SHAPE[0])
        self.y_embedder = nn.Embedding(num_classes + 1, SHAPE[0])

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        bias = self.t_embedder(t[:, None] / SCHEDULE.num_steps) + self.y_embedder(y)  # (B, C)
        return self.mix(x.movedim(1, -1)).movedim(-1, 1) + bias[:, :, None, None]


class OracleNet(nn.Module):
    """Knows the clean images and returns the exact target for the noisy input it is given."""

    def __init__(self, clean: torch.Tensor, prediction: Prediction) -> None:
        super().__init__()
        self.clean, self.prediction = clean, prediction

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma = SCHEDULE.t_to_sigma(t)  # (B,) float64
        c_in = (1 + sigma**2).rsqrt().view(-1, 1, 1, 1)  # the net sees c_in·(x₀ + σ·ε)
        x0 = self.clean.double()
        eps = (x.double() / c_in - x0) / sigma.view(-1, 1, 1, 1)
        return VPPrecond(SCHEDULE, self.prediction).target(x0, eps, sigma).float()


class ZeroNet(nn.Module):
    """Predicts ε = 0: x̂₀ is the noisy image itself."""

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def family(net: nn.Module, num_classes: int = 3, prediction="eps", **kw) -> DiffusionFamily:
    return DiffusionFamily(net, SCHEDULE, prediction, num_classes, SHAPE, **kw)


def data(n: int = 6):
    return torch.rand(n, *SHAPE) * 1.6 - 0.8, torch.arange(n) % 3


def test_shape_sign_and_seeded_determinism():
    fam, (images, labels) = family(TinyNet(3)), data()
    mse = denoising_mse(fam, images, labels, SIGMAS, generator=torch.Generator().manual_seed(0))
    assert mse.shape == (6, 3) and mse.dtype == np.float64 and np.all(mse >= 0)
    again = denoising_mse(fam, images, labels, SIGMAS, generator=torch.Generator().manual_seed(0))
    other = denoising_mse(fam, images, labels, SIGMAS, generator=torch.Generator().manual_seed(1))
    assert np.array_equal(mse, again) and not np.array_equal(mse, other)


def test_the_batch_size_does_not_change_the_result():
    fam, (images, labels) = family(TinyNet(3)), data()
    full = denoising_mse(fam, images, labels, generator=torch.Generator().manual_seed(0))
    chunked = denoising_mse(
        fam, images, labels, generator=torch.Generator().manual_seed(0), batch_size=4
    )
    assert chunked == pytest.approx(full, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("prediction", list(Prediction))
def test_an_oracle_net_scores_zero(prediction):
    images, labels = data()
    fam = family(OracleNet(images, prediction), prediction=prediction)
    mse = denoising_mse(fam, images, labels, SIGMAS, generator=torch.Generator().manual_seed(0))
    assert mse.max() < 1e-9


def test_a_net_that_removes_no_noise_scores_sigma_squared():
    images, labels = torch.zeros(64, *SHAPE), torch.zeros(64, dtype=torch.long)
    fam = family(ZeroNet(), num_classes=0, clip_denoised=False)
    mse = denoising_mse(fam, images, labels, SIGMAS, generator=torch.Generator().manual_seed(0))
    assert mse.mean(0) == pytest.approx(np.square(SIGMAS), rel=0.05)


def test_an_unconditional_family_sees_the_null_class():
    seen = []

    class Spy(TinyNet):
        def forward(self, x, t, y):
            seen.append(y)
            return super().forward(x, t, y)

    images, labels = data()
    denoising_mse(family(Spy(0), num_classes=0), images, labels, [0.1])
    assert all(bool((y == 0).all()) for y in seen)  # the null class of 0 classes is 0


@pytest.mark.parametrize(
    ("sigmas", "kwargs", "error"),
    [
        ([1e-4], {}, ConfigError),  # below the schedule's σ_min
        ([1e4], {}, ConfigError),
        ([], {}, ConfigError),
        ([0.1], {"batch_size": 0}, ConfigError),
    ],
)
def test_bad_levels_are_refused(sigmas, kwargs, error):
    images, labels = data()
    with pytest.raises(error):
        denoising_mse(family(TinyNet(3)), images, labels, sigmas, **kwargs)


def test_wrong_shapes_are_refused():
    images, labels = data()
    with pytest.raises(DataError):
        denoising_mse(family(TinyNet(3)), images[:, :1], labels)
    with pytest.raises(DataError):
        denoising_mse(family(TinyNet(3)), images, labels[:2])
