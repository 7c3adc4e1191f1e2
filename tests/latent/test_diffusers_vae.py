"""A saved diffusers AutoencoderKL as a LatentCodec: shapes, encode = mean · scaling_factor."""

import json

import pytest
import torch

from trigen.build import load_autoencoder
from trigen.errors import CheckpointError
from trigen.interop.diffusers_vae import DiffusersVAECodec, is_diffusers_vae
from trigen.runs import autoencoder_channels
from trigen.tokenizers.autoencoder import LatentCodec

from .helpers import SIDE, save_tiny_vae


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vae")
    save_tiny_vae(directory, scaling_factor=0.37)  # not SD's 0.18215: it must be read
    return directory


def test_round_trip_shapes_and_protocol(vae_dir):
    codec = load_autoencoder(vae_dir)
    assert isinstance(codec, DiffusersVAECodec) and isinstance(codec, LatentCodec)
    assert codec.scale_factor == 0.37 and codec.downsample == 2 and codec.in_channels == 3
    assert autoencoder_channels(vae_dir) == 3
    x = torch.rand(2, 3, SIDE, SIDE) * 2 - 1
    z = codec.encode(x)
    assert z.shape == (2, *codec.latent_shape((3, SIDE, SIDE))) == (2, 4, SIDE // 2, SIDE // 2)
    images = codec.decode(z)
    assert images.shape == x.shape and images.abs().max() <= 1


def test_encode_equals_diffusers_mean_times_scaling_factor(vae_dir):
    from diffusers import AutoencoderKL

    reference = AutoencoderKL.from_pretrained(str(vae_dir)).eval()
    codec = load_autoencoder(vae_dir)
    x = torch.rand(2, 3, SIDE, SIDE) * 2 - 1
    with torch.no_grad():
        expected = reference.encode(x).latent_dist.mean * reference.config.scaling_factor
        decoded = reference.decode(expected / reference.config.scaling_factor).sample
    torch.testing.assert_close(codec.encode(x), expected)
    torch.testing.assert_close(codec.decode(expected), decoded.clamp(-1, 1))
    drawn = codec.encode(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == expected.shape and not torch.allclose(drawn, expected)


def test_other_directories_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    assert not is_diffusers_vae(tmp_path)
    with pytest.raises(CheckpointError):
        load_autoencoder(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_autoencoder(tmp_path / "missing")
