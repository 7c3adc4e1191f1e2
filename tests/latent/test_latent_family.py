"""klvae runs and latent diffusion end to end through the Python API, on a tiny dataset."""

import dataclasses
import json

import pytest
import torch

from trigen import api
from trigen.batch import Batch
from trigen.build import load_autoencoder
from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.families.latent import LatentDiffusionFamily
from trigen.latent_scale import LATENT_SCALE_FILE

from .helpers import SIDE

TINY_DIT = {"depth": 1, "hidden": 32, "heads": 2}


def test_klvae_run_stores_its_scale_factor(klvae_run):
    (ckpt,) = (klvae_run / "checkpoints").glob("step-*")
    stored = json.loads((ckpt / LATENT_SCALE_FILE).read_text())["model.safetensors"]
    codec = load_autoencoder(klvae_run)
    assert codec.scale_factor == stored["scale_factor"] > 0
    assert codec.latent_shape((1, SIDE, SIDE)) == (4, SIDE // 4, SIDE // 4)

    loaded = api.load(klvae_run)  # the family decodes random latents of the data's spread
    assert loaded.family.scale_factor > 0
    images = api.sample(loaded.family, torch.tensor([0, 1, 2]), seed=1)
    assert images.shape == (3, SIDE, SIDE, 1)
    with pytest.raises(ConfigError):
        loaded.family.nll(Batch(torch.zeros(1, 1, SIDE, SIDE), torch.zeros(1, dtype=torch.long)))


def test_latent_dit_trains_and_samples_pixels(tmp_path, idx_root, klvae_run):
    cfg = TrainConfig(
        family="dit",
        model="DiT-T/2",
        dataset="idx",
        data_root=str(idx_root),
        autoencoder=str(klvae_run),
        batch_size=8,
        max_steps=3,
        log_every=1,
        model_overrides=TINY_DIT,
    )
    result = api.train(cfg, tmp_path / "dit", device="cpu")
    assert result.step == 3 and all(r["loss"] == r["loss"] for r in result.history)
    assert len(list((tmp_path / "dit" / "latents").glob("*.safetensors"))) == 1

    loaded = api.load(tmp_path / "dit")
    family = loaded.family
    assert isinstance(family, LatentDiffusionFamily)
    assert family.latent_shape == (4, SIDE // 4, SIDE // 4)
    assert family.net.cfg.input_size == SIDE // 4  # the backbone is sized for the latents
    labels = torch.tensor([0, 1, 2, 3])  # 3 is the null class
    images = family.sample(labels, SampleSpec(steps=3, cfg=2.0), torch.Generator().manual_seed(0))
    assert images.shape == (4, 1, SIDE, SIDE)
    assert images.min() >= -1 and images.max() <= 1

    # the EMA swap the trainer and api use re-points the inner diffusion family
    other = dataclasses.replace(family, net=torch.nn.Identity())
    assert other.diffusion.net is other.net
    with pytest.raises(ConfigError, match="no pixel likelihood"):
        family.nll(Batch(torch.zeros(1, 1, SIDE, SIDE), torch.zeros(1, dtype=torch.long)))
    # pixel batches are encoded on the fly, latent batches pass through
    pixels = Batch(torch.rand(2, 1, SIDE, SIDE) * 2 - 1, torch.tensor([0, 1]))
    assert family.loss(pixels, torch.Generator().manual_seed(0)).shape == (2,)


def test_latent_diffusion_refuses_flip(tmp_path, idx_root, klvae_run):
    cfg = TrainConfig(
        family="unet",
        dataset="idx",
        data_root=str(idx_root),
        autoencoder=str(klvae_run),
        flip=True,
        max_steps=1,
    )
    with pytest.raises(ConfigError, match="flip"):
        api.train(cfg, tmp_path / "unet", device="cpu")
