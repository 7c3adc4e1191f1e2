"""Latent flow matching: the flow objective and its preconditioner run in an autoencoder's
latents exactly as in pixels."""

import pytest
import torch
from torch import nn

from trigen.batch import Batch
from trigen.diffusion.precond import FlowPrecond
from trigen.diffusion.schedules import FlowSchedule
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.families.diffusion import DiffusionFamily
from trigen.families.latent import LatentDiffusionFamily
from trigen.tokenizers.autoencoder import KLAutoencoder, KLCodec, kl_config


class LatentNet(nn.Module):
    """A per-pixel channel mix with a timestep bias, on latents (B, c, h, w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(channels, channels, 1)
        self.t_embedder = nn.Linear(1, channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.mix(x) + self.t_embedder(t[:, None] / 1000)[:, :, None, None]


def latent_flow_family() -> LatentDiffusionFamily:
    torch.manual_seed(0)
    ae = KLAutoencoder(kl_config("kl-tiny", in_channels=1, image_size=16)).eval()
    codec = KLCodec(ae, scale_factor=1.0, fingerprint="test")
    latent = codec.latent_shape((1, 16, 16))
    net = LatentNet(latent[0])
    flow = DiffusionFamily(
        net, FlowSchedule(), "v", 0, latent, data_range=None, clip_denoised=False
    )
    return LatentDiffusionFamily(net, flow, codec, 0, (1, 16, 16))


def test_latent_flow_trains_samples_and_has_no_pixel_likelihood() -> None:
    fam = latent_flow_family()
    assert isinstance(fam.diffusion.precond, FlowPrecond)
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    loss = fam.loss(Batch(images, torch.zeros(4, dtype=torch.long)), torch.Generator())
    assert loss.shape == (4,) and torch.isfinite(loss).all()
    seen = []
    out = fam.sample(torch.zeros(3, dtype=torch.long), SampleSpec(steps=4), callback=seen.append)
    assert out.shape == (3, 1, 16, 16) and out.abs().max() <= 1
    assert [step.i for step in seen] == [0, 1, 2, 3]
    assert tuple(seen[0].x.shape[1:]) == fam.latent_shape  # the steps run on latents
    with pytest.raises(ConfigError):
        fam.nll(Batch(images, torch.zeros(4, dtype=torch.long)))
