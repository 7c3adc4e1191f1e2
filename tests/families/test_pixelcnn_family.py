"""PixelCNN family and the PixelCNN++ logistic mixture: exact likelihoods, sampling properties."""

import dataclasses
import math

import pytest
import torch

from trigen.autoregressive import logistic_mixture as lm
from trigen.batch import Batch
from trigen.conditions import Guided
from trigen.errors import ConfigError, DataError
from trigen.families import labels as labels_module
from trigen.families.base import Family, SampleSpec
from trigen.families.pixelcnn import PixelCNNFamily
from trigen.guidance import classifier_free_guidance
from trigen.models.pixelcnn import PixelCNN, PixelCNNConfig

LEVELS = torch.arange(256, dtype=torch.float64) / 127.5 - 1  # every value the data can take


def _family(channels=1, size=6, output="softmax256", num_classes=3, **kw) -> PixelCNNFamily:
    config = PixelCNNConfig(
        in_channels=channels,
        input_size=size,
        num_classes=num_classes,
        channels=kw.pop("width", 12),
        num_layers=kw.pop("num_layers", 2),
        kernel_size=3,
        output=output,
        num_mixtures=3,
    )
    return PixelCNNFamily(PixelCNN(config), num_classes, (channels, size, size), **kw)


def _images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=gen) / 127.5 - 1


def _random_params(shape, seed: int) -> torch.Tensor:
    """Mixture parameters with means spread over and beyond [-1, 1] and scales from tiny to wide."""
    return 3 * torch.randn(
        shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


# ---- the discretised logistic mixture ------------------------------------------------------


def test_grayscale_mixture_sums_to_one_over_256_levels() -> None:
    params = _random_params((1, lm.num_params(1, 4), 3, 4), seed=0)  # 12 pixels, broadcast
    log_p = lm.log_prob(params, LEVELS.view(256, 1, 1, 1))  # (256, 3, 4)
    assert torch.isfinite(log_p).all()
    torch.testing.assert_close(
        log_p.exp().sum(0), torch.ones(3, 4, dtype=torch.float64), atol=1e-5, rtol=0
    )


def test_rgb_mixture_sums_to_one_over_all_256_cubed_colours() -> None:
    params = _random_params((1, lm.num_params(3, 2), 1, 1), seed=1).float()  # broadcasts
    levels = LEVELS.float()
    g = levels.view(1, 256, 1).expand(32, 256, 256)
    b = levels.view(1, 1, 256).expand(32, 256, 256)
    total = 0.0
    for r in levels.split(32):  # 32 values of R at a time; G and B sit in the "spatial" dims
        x = torch.stack([r.view(32, 1, 1).expand(32, 256, 256), g, b], dim=1)  # (32, 3, 256, 256)
        total += lm.log_prob(params, x).exp().double().sum().item()
    assert abs(total - 1) < 1e-5


def test_level_log_probs_are_normalised_and_obey_the_chain_rule() -> None:
    params = _random_params((4, lm.num_params(3, 3), 2, 2), seed=2)
    x = _images(4, 3, 2).double()
    per_level = lm.level_log_probs(params, x)  # (4, 256, 3, 2, 2)
    torch.testing.assert_close(per_level.exp().sum(1), torch.ones(4, 3, 2, 2, dtype=torch.float64))
    index = torch.round((x + 1) * 127.5).long().unsqueeze(1)  # (4, 1, 3, 2, 2)
    chain = per_level.gather(1, index).squeeze(1).sum(1)  # Σ_c log p(x_c | x_<c)
    torch.testing.assert_close(chain, lm.log_prob(params, x))


def test_mixture_edges_are_the_open_tails() -> None:
    """A component far below -1 puts (almost) all its mass on level 0, far above +1 on 255."""
    params = torch.zeros(1, lm.num_params(1, 1), 1, 1, dtype=torch.float64)
    params[0, 2] = -3.0  # log-scale: narrow components
    x = LEVELS.view(256, 1, 1, 1)
    for mean, level in ((-5.0, 0), (5.0, 255)):
        params[0, 1] = mean
        log_p = lm.log_prob(params.expand(256, -1, -1, -1), x)[:, 0, 0]
        assert log_p.argmax() == level and log_p[level] > -1e-3


def test_fitting_mixture_parameters_drives_the_nll_tenfold_down() -> None:
    """Gradients flow through every branch (edges and interior) down to the log-scale floor."""
    x = _images(1, 3, 4, seed=5)
    x[0, :, 0, :2] = torch.tensor([-1.0, 1.0]).view(2, 1).T.expand(3, 2)  # both edge levels
    params = torch.zeros(1, lm.num_params(3, 2), 4, 4, requires_grad=True)
    opt = torch.optim.Adam([params], lr=0.03)
    first = -lm.log_prob(params, x).sum().item()
    for _ in range(250):
        opt.zero_grad()
        (-lm.log_prob(params, x).sum()).backward()
        opt.step()
    assert -lm.log_prob(params, x).sum().item() < first / 10


def test_mixture_sampling_follows_its_level_probabilities() -> None:
    params = _random_params((1, lm.num_params(1, 3), 1, 1), seed=3).float()
    probs = lm.level_log_probs(params, torch.zeros(1, 1, 1, 1))[0, :, 0, 0, 0].exp()
    draws = lm.sample(params.expand(20000, -1, -1, -1), 1, torch.Generator().manual_seed(0))
    levels = torch.round((draws.flatten() + 1) * 127.5).long()
    freq = torch.bincount(levels, minlength=256) / len(levels)
    assert (freq - probs).abs().sum() / 2 < 0.03  # total variation distance


def test_mixture_sampling_is_deterministic_and_on_levels() -> None:
    params = _random_params((2, lm.num_params(3, 2), 4, 4), seed=4).float()
    a = lm.sample(params, 3, torch.Generator().manual_seed(7))
    b = lm.sample(params, 3, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (2, 3, 4, 4)
    assert a.abs().max() <= 1 and torch.allclose(a * 127.5, torch.round(a * 127.5 + 127.5) - 127.5)


# ---- the family ------------------------------------------------------------------------------


def test_is_a_family() -> None:
    assert isinstance(_family(), Family)


@pytest.mark.parametrize("channels", [1, 3])
def test_uniform_model_scores_eight_bits_per_dim(channels: int) -> None:
    fam = _family(channels=channels)
    torch.nn.init.zeros_(fam.net.out.weight)
    torch.nn.init.zeros_(fam.net.out.bias)
    images = _images(3, channels, 6)
    nll = fam.nll(Batch(images, torch.tensor([0, 1, 2])))
    bits_per_dim = nll / (channels * 36 * math.log(2))
    torch.testing.assert_close(bits_per_dim, torch.full((3,), 8.0))


def test_nll_of_a_tiny_batch_falls_tenfold_when_overfitting() -> None:
    fam = _family(size=5, width=24, num_layers=3, label_dropout=0.0)
    batch = Batch(_images(2, 1, 5), torch.tensor([0, 1]))
    opt = torch.optim.Adam(fam.net.parameters(), lr=1e-2)
    first = fam.nll(batch).mean().item()
    for _ in range(80):
        opt.zero_grad()
        fam.loss(batch).mean().backward()
        opt.step()
    assert fam.nll(batch).mean().item() < first / 10


def test_loss_is_nll_with_seeded_label_dropout() -> None:
    fam = _family(label_dropout=0.5)
    batch = Batch(_images(8, 1, 6), torch.arange(8) % 3)
    no_drop = dataclasses.replace(fam, label_dropout=0.0)
    torch.testing.assert_close(no_drop.loss(batch), fam.nll(batch))
    first = fam.loss(batch, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, fam.loss(batch, torch.Generator().manual_seed(0)))
    assert not torch.allclose(first, fam.nll(batch))  # some labels were dropped


@pytest.mark.parametrize(
    "channels, output", [(1, "softmax256"), (3, "softmax256"), (3, "logistic_mixture")]
)
def test_samples_are_images_on_levels_and_deterministic(channels: int, output: str) -> None:
    fam = _family(channels=channels, size=4, output=output)
    labels = torch.tensor([0, 2, 3])  # 3 = null
    spec = SampleSpec(cfg=2.0, temperature=0.9, top_p=0.95)
    a = fam.sample(labels, spec, torch.Generator().manual_seed(0))
    assert a.shape == (3, channels, 4, 4) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    torch.testing.assert_close(a * 127.5, torch.round(a * 127.5 + 127.5) - 127.5)
    assert torch.equal(a, fam.sample(labels, spec, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, fam.sample(labels, spec, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize(
    "channels, output", [(1, "softmax256"), (3, "softmax256"), (3, "logistic_mixture")]
)
def test_greedy_sample_is_a_fixed_point_of_one_full_forward(channels: int, output: str) -> None:
    """Sampling (row-cropped inputs, one sub-pixel at a time) agrees with teacher forcing: every
    sub-pixel of a top-k=1 sample is the argmax of one full forward over the finished image."""
    fam = _family(channels=channels, size=5, output=output)
    labels = torch.tensor([0, 1])
    x = fam.sample(labels, SampleSpec(top_k=1))
    out = fam.net(x, labels)
    if output == "logistic_mixture":
        out = lm.level_log_probs(out, x)  # (B, 256, C, H, W)
    torch.testing.assert_close(out.argmax(1) / 127.5 - 1, x)


def _always_batched_guided(fn, labels, conds, null_label, guidance):
    """`guided` without its scale-1 shortcut: always cond ‖ uncond in one forward."""
    both = torch.cat([labels, torch.full_like(labels, null_label)])

    def g(x):
        cond, uncond = fn(torch.cat([x, x]), both, conds).chunk(2)
        return classifier_free_guidance(cond, uncond, guidance.cfg)

    return Guided(g, 2)


def test_cfg_scale_one_equals_conditional_sampling(monkeypatch) -> None:
    fam = _family(size=4)
    labels = torch.tensor([0, 1, 2])
    conditional = fam.sample(labels, SampleSpec(cfg=1.0), torch.Generator().manual_seed(3))
    monkeypatch.setattr(labels_module, "guided", _always_batched_guided)
    batched = fam.sample(labels, SampleSpec(cfg=1.0), torch.Generator().manual_seed(3))
    assert torch.equal(conditional, batched)


def test_cfg_scale_zero_is_unconditional_sampling() -> None:
    fam = _family(size=4)
    labels = torch.tensor([0, 1, 2])
    guided = fam.sample(labels, SampleSpec(cfg=0.0), torch.Generator().manual_seed(5))
    null = fam.sample(torch.full((3,), 3), SampleSpec(), torch.Generator().manual_seed(5))
    assert torch.equal(guided, null)


def test_unconditional_family_ignores_labels() -> None:
    fam = _family(num_classes=0)
    images = _images(2, 1, 6)
    torch.testing.assert_close(
        fam.nll(Batch(images, torch.tensor([4, 7]))), fam.nll(Batch(images, torch.zeros(2).long()))
    )
    with pytest.raises(ConfigError):
        fam.sample(torch.zeros(2).long(), SampleSpec(cfg=3.0))


def test_user_errors_are_clear() -> None:
    fam = _family()
    with pytest.raises(DataError):
        fam.nll(Batch(_images(2, 1, 8), torch.tensor([0, 1])))  # wrong size
    with pytest.raises(DataError):
        fam.sample(torch.tensor([4]), SampleSpec())  # beyond the null class
    with pytest.raises(DataError):
        fam.loss(Batch(_images(2, 1, 6), torch.tensor([0, -1])))
    with pytest.raises(ConfigError):
        fam.sample(torch.tensor([0]), SampleSpec(temperature=0.0))
    with pytest.raises(ConfigError):
        PixelCNNFamily(fam.net, num_classes=5, image_shape=(1, 6, 6))
    with pytest.raises(ConfigError):
        PixelCNNFamily(fam.net, num_classes=3, image_shape=(3, 6, 6))
