"""The autoregressive families: exact NLL in nats, uniform = 8 bits/dim, overfitting, sampling."""

import dataclasses
import math

import pytest
import torch

from trigen.batch import Batch
from trigen.errors import DataError
from trigen.families.autoregressive import AutoregressiveFamily, VQTokenFamily
from trigen.families.base import Family, SampleSpec
from trigen.families.capabilities import EXACT, TOKEN_NLL
from trigen.models.ar_transformer import ARTransformer, ar_config
from trigen.tokenizers.vqvae import VQVAE, vq_config

NUM_CLASSES = 3


def pixel_family(shape=(1, 4, 4), **kwargs) -> AutoregressiveFamily:
    cfg = ar_config(
        "ar-tiny", image_shape=shape, num_classes=NUM_CLASSES, width=32, depth=2, heads=4
    )
    return AutoregressiveFamily(ARTransformer(cfg), NUM_CLASSES, shape, **kwargs)


def random_batch(shape=(1, 4, 4), n=4) -> Batch:
    levels = torch.randint(0, 256, (n, *shape))
    return Batch(levels / 127.5 - 1, torch.arange(n) % NUM_CLASSES)


@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 2, 3)])
def test_uniform_model_scores_exactly_8_bits_per_dim(shape):
    family = pixel_family(shape)
    with torch.no_grad():
        family.net.head.weight.zero_()
        family.net.head.bias.zero_()
    nats = family.nll(random_batch(shape))
    bits_per_dim = nats / (math.prod(shape) * math.log(2))
    torch.testing.assert_close(bits_per_dim, torch.full_like(bits_per_dim, 8.0), rtol=1e-6, atol=0)


def test_overfit_batch_nll_falls_tenfold():
    family = pixel_family(label_dropout=0.0)
    batch = random_batch()
    opt = torch.optim.Adam(family.net.parameters(), lr=3e-3)
    start = family.nll(batch).mean()
    for _ in range(150):
        loss = family.loss(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = family.nll(batch).mean()
    assert end < start / 10, (start.item(), end.item())


def test_loss_without_dropout_is_the_nll_and_keeps_gradients():
    family = pixel_family(label_dropout=0.0)
    batch = random_batch()
    loss = family.loss(batch)
    torch.testing.assert_close(loss.detach(), family.nll(batch))
    assert loss.shape == (4,) and loss.requires_grad


def test_sample_is_on_the_8_bit_grid():
    family = pixel_family((3, 2, 2))
    spec = SampleSpec(cfg=2.0, temperature=0.9, top_k=50, top_p=0.95)
    images = family.sample(torch.tensor([0, 1, 3]), spec, torch.Generator().manual_seed(0))
    assert images.shape == (3, 3, 2, 2) and images.min() >= -1 and images.max() <= 1
    levels = (images + 1) * 127.5
    torch.testing.assert_close(levels, levels.round())
    with pytest.raises(DataError, match="labels"):
        family.sample(torch.tensor([4]), spec)


def test_family_protocol_wrong_shapes_and_ema_replace():
    family = pixel_family()
    assert isinstance(family, Family) and family.likelihood is EXACT
    with pytest.raises(DataError, match="shape"):
        family.loss(random_batch((1, 5, 5)))
    twin = dataclasses.replace(family, net=ARTransformer(family.net.cfg))
    assert twin.net is not family.net and twin.image_shape == family.image_shape


def vq_family() -> VQTokenFamily:
    tokenizer = VQVAE(vq_config("vq-tiny", in_channels=1, image_size=8, codebook_size=16))
    h, w = tokenizer.token_grid
    cfg = ar_config(
        "ar-tiny", grid=(h, w, 1), num_classes=NUM_CLASSES, vocab_size=16, width=32, depth=1,
        heads=4,
    )  # fmt: skip
    return VQTokenFamily(ARTransformer(cfg), tokenizer.eval(), NUM_CLASSES, (1, 8, 8))


def test_vq_family_reads_images_or_cached_grids():
    family = vq_family()
    batch = random_batch((1, 8, 8))
    grids = family.tokenizer.encode(batch.images)  # (B, 2, 2)
    from_images = family.nll(batch)
    from_cache = family.nll(Batch(grids, batch.labels))
    torch.testing.assert_close(from_images, from_cache)
    assert family.likelihood is TOKEN_NLL and isinstance(family, Family)
    with pytest.raises(DataError, match="tokenize"):
        family.nll(Batch(torch.zeros(4, 3, 3, dtype=torch.long), batch.labels))


def test_vq_family_samples_decoded_images():
    family = vq_family()
    images = family.sample(torch.tensor([0, 2]), SampleSpec(cfg=1.5), torch.Generator())
    assert images.shape == (2, 1, 8, 8) and images.abs().max() <= 1
