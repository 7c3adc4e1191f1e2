"""VQ-VAE: shapes, straight-through gradients, falling reconstruction loss, codebook use, restarts,
and the token cache."""

import json

import pytest
import torch
import torch.nn.functional as F

from trigen.batch import Batch
from trigen.errors import ConfigError, DataError
from trigen.tokenizers.vqvae import (
    VQ_PRESETS,
    VQVAE,
    Codebook,
    load_token_cache,
    save_token_cache,
    tokenize_dataset,
    vq_config,
)

EXACT = "donot_use_mm_for_euclid_dist"  # cdist's matmul shortcut is off by ~1e-4


def tiny(codebook: Codebook = Codebook.EMA, **overrides) -> VQVAE:
    return VQVAE(vq_config("vq-tiny", in_channels=1, image_size=16, codebook=codebook, **overrides))


def smooth_images(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Low-frequency images in [-1, 1] (B, 1, 16, 16): learnable, unlike pixel noise."""
    coarse = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=16, mode="bilinear") * 2 - 1


def train(model: VQVAE, images: torch.Tensor, steps: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batch = Batch(images, torch.zeros(len(images), dtype=torch.long))
    history = []
    for _ in range(steps):
        _, losses, _ = model(images)
        history.append(losses["recon"].mean().item())
        loss = model.loss(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return history


def test_encode_decode_shapes():
    model = tiny().eval()
    images = smooth_images(3)
    indices = model.encode(images)
    assert indices.shape == (3, 4, 4) and indices.dtype == torch.int64
    assert model.token_grid == (4, 4)
    assert indices.min() >= 0 and indices.max() < model.codebook_size
    decoded = model.decode(indices)
    assert decoded.shape == images.shape and decoded.abs().max() <= 1
    recon, losses, fwd_indices = model(images)
    assert recon.shape == images.shape and torch.equal(fwd_indices, indices)
    assert set(losses) == {"recon", "commitment"} and losses["recon"].shape == (3,)


@pytest.mark.parametrize("codebook", list(Codebook))
def test_reconstruction_falls_and_codes_are_shared_out(codebook):
    model = tiny(codebook)
    images = smooth_images()
    history = train(model, images, steps=60)
    assert history[-1] < 0.5 * history[0], history[::10]
    assert model.encode(images).unique().numel() > 1


def test_straight_through_gradients():
    for codebook in Codebook:
        model = tiny(codebook)
        model.loss(Batch(smooth_images(4), torch.zeros(4, dtype=torch.long))).mean().backward()
        assert model.encoder[0].weight.grad.abs().sum() > 0  # reached past the quantizer
        learned = isinstance(model.quantizer.codebook, torch.nn.Parameter)
        assert learned == (codebook is Codebook.LEARNED)
        if learned:
            assert model.quantizer.codebook.grad.abs().sum() > 0


def test_first_batch_seeds_the_codebook_with_encoder_outputs():
    model = tiny()
    images = smooth_images(8)
    model(images)  # training mode: statistics update
    with torch.no_grad():
        z = model.encoder(images).permute(0, 2, 3, 1).reshape(-1, 16)  # (N, D)
    codebook = model.quantizer.codebook
    # the EMA step after seeding moves used codes a little; unused ones are still exact samples
    distance = torch.cdist(codebook, z, compute_mode=EXACT).min(dim=1).values
    assert (distance < 1e-5).sum() >= codebook.shape[0] // 2


@pytest.mark.parametrize("codebook", list(Codebook))
def test_dead_codes_are_restarted_from_encoder_outputs(codebook):
    model = tiny(codebook)
    images = smooth_images(8)
    train(model, images, steps=2)
    quantizer = model.quantizer
    dead = torch.tensor([0, 5, 9])
    with torch.no_grad():
        quantizer.codebook.data[dead] = 1e3  # unreachable codes …
        quantizer.cluster_size[dead] = 0.0  # … that nobody has used
        z = model.encoder(images).permute(0, 2, 3, 1).reshape(-1, 16)
    model(images)
    distance = (
        torch.cdist(quantizer.codebook[dead].detach(), z, compute_mode=EXACT).min(dim=1).values
    )
    assert torch.all(distance < 1e-5)  # each is now one of this batch's encoder outputs
    assert torch.all(quantizer.cluster_size[dead] > quantizer.cfg.dead_code_threshold)


def test_encode_updates_no_statistics():
    model = tiny()
    model(smooth_images(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.encode(smooth_images(4, seed=1))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_token_cache_round_trip(tmp_path):
    model = tiny()
    train(model, smooth_images(), steps=1)
    levels = ((smooth_images(10) + 1) * 127.5).round().to(torch.uint8)
    tokens, labels = tokenize_dataset(model, (levels, torch.arange(10)), batch_size=4)
    assert tokens.shape == (10, 16) and model.training  # mode restored
    model.eval()
    assert torch.equal(tokens, model.encode(levels / 127.5 - 1).flatten(1))
    path = tmp_path / "mnist-train.safetensors"
    save_token_cache(path, tokens, labels, token_grid=(4, 4), codebook_size=64, meta={"k": 1})
    got_tokens, got_labels, header = load_token_cache(path)
    assert torch.equal(got_tokens, tokens) and torch.equal(got_labels, labels)
    assert header["meta"] == {"k": 1} and header["token_grid"] == [4, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mnist-train.json",
        path.name,
    ]  # no temporaries left


def test_damaged_token_cache_is_a_data_error(tmp_path):
    path = tmp_path / "c.safetensors"
    save_token_cache(path, torch.zeros(3, 4), torch.zeros(3), token_grid=(2, 2), codebook_size=8)
    header = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**header, "count": 4}))
    with pytest.raises(DataError, match="header"):
        load_token_cache(path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot read"):
        load_token_cache(path)
    with pytest.raises(DataError, match="cannot read"):
        load_token_cache(tmp_path / "missing.safetensors")


def test_config_validation():
    assert all(vq_config(p, in_channels=1, image_size=28).token_grid == (7, 7) for p in VQ_PRESETS)
    with pytest.raises(ConfigError, match="preset"):
        vq_config("vq-huge", in_channels=1, image_size=28)
    with pytest.raises(ConfigError, match="downsample"):
        vq_config("vq-tiny", in_channels=1, image_size=28, downsample=3)
    with pytest.raises(ConfigError, match="codebook"):
        vq_config("vq-tiny", in_channels=1, image_size=28, codebook="kmeans")
