"""The KL autoencoder: shapes, a falling reconstruction loss, the KL term, the scale factor."""

import pytest
import torch

from trigen.batch import Batch
from trigen.errors import ConfigError, DataError
from trigen.tokenizers.autoencoder import (
    KLAutoencoder,
    KLCodec,
    LatentCodec,
    kl_config,
    latent_scale_factor,
)


def tiny(size: int = 16, **overrides) -> KLAutoencoder:
    return KLAutoencoder(kl_config("kl-tiny", in_channels=1, image_size=size, **overrides))


def blobs(n: int = 8, size: int = 16) -> torch.Tensor:
    """Images in [-1, 1] with a bright square at a random place."""
    g = torch.Generator().manual_seed(3)
    x = -torch.ones(n, 1, size, size)
    for i, (r, c) in enumerate(torch.randint(0, size - 6, (n, 2), generator=g).tolist()):
        x[i, :, r : r + 6, c : c + 6] = 1.0
    return x


@pytest.mark.parametrize(("size", "downsample", "side"), [(16, 4, 4), (28, 4, 7), (32, 8, 4)])
def test_shapes(size, downsample, side):
    net = tiny(size, downsample=downsample)
    x = torch.rand(2, 1, size, size) * 2 - 1
    mean, logvar = net.posterior(x)
    assert mean.shape == logvar.shape == (2, 4, side, side)
    assert net.latent_shape((1, size, size)) == (4, side, side)
    codec = KLCodec(net, 0.5, "x")
    assert isinstance(codec, LatentCodec)
    z = codec.encode(x)
    assert z.shape == (2, 4, side, side)
    torch.testing.assert_close(z, mean.detach() * 0.5)
    images = codec.decode(z)
    assert images.shape == x.shape and images.abs().max() <= 1


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="power of two"):
        tiny(16, downsample=3)
    with pytest.raises(ConfigError, match="preset"):
        kl_config("kl-huge", in_channels=1, image_size=16)
    with pytest.raises(DataError, match="divisible"):
        tiny(16).latent_shape((1, 18, 18))


def test_reconstruction_loss_falls_on_a_fixed_batch():
    net = tiny(hidden=16)
    batch = Batch(blobs(4), torch.zeros(4, dtype=torch.long))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(15):
        loss = net.loss(batch, torch.Generator().manual_seed(step)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_kl_term_is_nonnegative_and_weighted():
    x = blobs(4)
    batch = Batch(x, torch.zeros(4, dtype=torch.long))
    torch.manual_seed(0)
    plain = tiny(kl_weight=0.0)
    weighted = tiny(kl_weight=1.0)
    weighted.load_state_dict(plain.state_dict())
    l0 = plain.loss(batch, torch.Generator().manual_seed(1))
    l1 = weighted.loss(batch, torch.Generator().manual_seed(1))
    assert (l1 >= l0).all() and (l1 > l0).any()
    # with β = 0 the loss is the mean absolute error of the reconstruction
    noise = torch.randn(4, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    recon, _, _ = plain(x, noise)
    torch.testing.assert_close(l0, (recon - x).abs().flatten(1).mean(1))


def test_posterior_sampling_is_seeded():
    codec = KLCodec(tiny(), 2.0, "x")
    x = blobs(2)
    a = codec.encode(x, sample=True, generator=torch.Generator().manual_seed(5))
    b = codec.encode(x, sample=True, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, codec.encode(x))


def test_scale_factor_gives_unit_std_on_its_data():
    net = tiny().eval()
    images = ((blobs(32) + 1) * 127.5).round().to(torch.uint8)
    scale = latent_scale_factor(lambda x: net.posterior(x)[0], images, batch_size=10)
    codec = KLCodec(net, scale, "x")
    z = codec.encode(images.float() / 127.5 - 1)
    assert z.std().item() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(DataError):
        latent_scale_factor(lambda x: net.posterior(x)[0], images[:1])


class Forwarding(torch.nn.Module):
    """Stands for a data-parallel wrapper: forward only, no ``loss`` attribute."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args):
        return self.module(*args)


def test_family_loss_runs_through_a_forward_only_wrapper():
    import dataclasses

    from trigen.families.autoencoder import AutoencoderFamily

    net = tiny()
    family = AutoencoderFamily(net, net.cfg, 0, (1, 16, 16))
    wrapped = dataclasses.replace(family, net=Forwarding(net))
    batch = Batch(blobs(2), torch.zeros(2, dtype=torch.long))
    expected = family.loss(batch, torch.Generator().manual_seed(2))
    torch.testing.assert_close(wrapped.loss(batch, torch.Generator().manual_seed(2)), expected)
    torch.testing.assert_close(net.loss(batch, torch.Generator().manual_seed(2)), expected)
