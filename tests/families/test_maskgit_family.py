"""Properties of masked parallel decoding: the cosine schedule, the unmasking invariants, the
masked-token loss, the order-agnostic bound, guidance, seeds, and training + sampling end to end."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from trigen.autoregressive import maskgit
from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.eval.likelihood import bits_per_dim
from trigen.families.base import SampleSpec
from trigen.families.capabilities import Scored
from trigen.families.maskgit import MaskGITFamily, MaskGITVQFamily
from trigen.guidance import guided
from trigen.models.maskgit import MaskGIT, maskgit_config

NUM_CLASSES = 3
SHAPE = (1, 4, 4)  # 16 pixel tokens
TINY = {"width": 32, "depth": 2, "heads": 4}


def tiny_family(shape=SHAPE, **overrides) -> MaskGITFamily:
    net = MaskGIT(
        maskgit_config("maskgit-tiny", image_shape=shape, num_classes=NUM_CLASSES, **TINY)
    )
    return MaskGITFamily(net.eval(), NUM_CLASSES, shape, **overrides)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Recorder:
    """A fake network ``logits_of`` that records the tokens of every call: random logits, fixed
    per call index, so any decoding path can be replayed."""

    def __init__(self, vocab: int, seed: int = 0) -> None:
        self.vocab, self.calls, self.g = vocab, [], torch.Generator().manual_seed(seed)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls.append(tokens.clone())
        return torch.randn(*tokens.shape, self.vocab, generator=self.g)


# ------------------------------------------------------------------------------ the schedule


@given(st.integers(1, 300), st.integers(1, 40))
@settings(max_examples=200, deadline=None)
def test_schedule_follows_the_cosine_and_ends_at_zero(seq_len, steps):
    counts = maskgit.unmask_schedule(seq_len, steps)
    assert counts[-1] == 0 and len(counts) <= steps
    assert all(a > b for a, b in zip([seq_len, *counts], counts, strict=False))  # ≥ 1 per step
    for k, n in enumerate(counts):
        cosine = math.floor(seq_len * maskgit.mask_ratio((k + 1) / steps))
        previous = seq_len if k == 0 else counts[k - 1]
        assert n == max(min(cosine, previous - 1), 0)


@given(st.integers(1, 300))
@settings(max_examples=100, deadline=None)
def test_as_many_steps_as_tokens_is_one_token_per_step(seq_len):
    assert maskgit.unmask_schedule(seq_len, seq_len) == list(range(seq_len - 1, -1, -1))


def test_mask_ratio_is_the_cosine_monotone_from_one_to_zero():
    r = torch.linspace(0, 1, 101)
    g = maskgit.mask_ratio(r)
    assert g[0] == 1 and g[-1].abs() < 1e-6 and (g.diff() < 0).all()
    torch.testing.assert_close(g, torch.cos(math.pi * r / 2))
    assert maskgit.mask_ratio(1 / 3) == pytest.approx(math.cos(math.pi / 6))


def test_training_masks_follow_the_cosine_schedule():
    """⌈γ(r)·L⌉ masked per row, at least one: the mean fraction is E[cos(πr/2)] = 2/π."""
    L = 64
    masks = maskgit.training_mask(4000, L, torch.zeros(1), gen())
    counts = masks.sum(dim=1)
    assert counts.min() >= 1 and counts.max() <= L
    assert abs(counts.float().mean().item() / L - 2 / math.pi) < 0.02


# ------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("unmasking", list(maskgit.Unmasking))
@pytest.mark.parametrize(("seq_len", "steps"), [(16, 4), (16, 8), (30, 7), (16, 16), (5, 12)])
def test_decoding_follows_the_schedule_and_never_remasks(seq_len, steps, unmasking):
    mask = 9
    net = Recorder(vocab=mask)
    out = maskgit.decode(net, 3, seq_len, mask, steps=steps, generator=gen(), unmasking=unmasking)
    expected = [seq_len, *maskgit.unmask_schedule(seq_len, min(steps, seq_len))[:-1]]
    assert [int((c == mask).sum(dim=1).unique().item()) for c in net.calls] == expected
    snapshots = [*net.calls, out]
    for before, after in itertools.pairwise(snapshots):
        fixed = before != mask
        assert torch.equal(after[fixed], before[fixed])  # a fixed token never changes again
    assert (out != mask).all() and out.max() < mask


@pytest.mark.parametrize("unmasking", list(maskgit.Unmasking))
def test_as_many_steps_as_tokens_decodes_one_token_per_step(unmasking):
    mask, L = 9, 12
    net = Recorder(vocab=mask)
    maskgit.decode(net, 2, L, mask, steps=L, generator=gen(), unmasking=unmasking)
    masked = [(c == mask).sum(dim=1) for c in net.calls]
    assert len(net.calls) == L
    assert all(torch.equal(m, torch.full((2,), L - k)) for k, m in enumerate(masked))


def test_the_most_confident_draws_are_kept():
    """Greedy (top-k 1) without choice noise: the positions fixed first are those whose top
    logit is highest."""
    L, V = 8, 5
    logits = torch.randn(1, L, V, generator=gen(3)) * 3
    calls = []

    def net(tokens):
        calls.append(tokens.clone())
        return logits

    out = maskgit.decode(net, 1, L, V, steps=4, generator=gen(), top_k=1)
    assert torch.equal(out, logits.argmax(-1))
    first = calls[1][0] != V  # fixed by step 0
    confidence = logits.log_softmax(-1).amax(-1)[0]
    assert confidence[first].min() >= confidence[~first].max()


def test_choice_noise_changes_the_order_not_the_tokens_of_a_greedy_decoder():
    L, V = 16, 6
    logits = torch.randn(1, L, V, generator=gen(1))
    plain = maskgit.decode(lambda t: logits, 1, L, V, steps=4, generator=gen(), top_k=1)
    noisy = maskgit.decode(
        lambda t: logits, 1, L, V, steps=4, generator=gen(), top_k=1, choice_temperature=5.0
    )
    assert torch.equal(plain, noisy)


def test_random_order_ignores_the_models_confidence():
    """In random order the positions fixed at each step depend on the generator only: two
    networks with opposite confidences fix the same positions, and a different seed others."""
    L, V = 32, 6

    def fixed_positions(scale: float, seed: int) -> list[torch.Tensor]:
        logits = scale * torch.arange(L, dtype=torch.float)[:, None] * torch.eye(V)[0]
        calls = []

        def net(tokens):
            calls.append(tokens != V)
            return logits.expand(tokens.shape[0], L, V)

        maskgit.decode(net, 1, L, V, steps=6, generator=gen(seed), unmasking="random")
        return calls

    a, b = fixed_positions(1.0, 0), fixed_positions(-1.0, 0)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, fixed_positions(1.0, 1), strict=True))
    # the confidence order of the same network would fix the most confident positions first
    confident = []
    logits = torch.arange(L, dtype=torch.float)[:, None] * torch.eye(V)[0]
    maskgit.decode(
        lambda t: confident.append(t != V) or logits.expand(1, L, V), 1, L, V, steps=6,
        generator=gen(), top_k=1,
    )  # fmt: skip
    first = confident[1][0].nonzero().squeeze(1)
    assert (first >= L - len(first)).all()


def test_pixels_decode_in_random_order_and_codes_by_confidence_by_default():
    assert MaskGITFamily.default_unmasking is maskgit.Unmasking.RANDOM
    assert MaskGITVQFamily.default_unmasking is maskgit.Unmasking.CONFIDENCE
    family = tiny_family()
    labels = torch.tensor([0, 1])
    default = family.sample_tokens(labels, SampleSpec(steps=4), gen(3))
    spelled = family.sample_tokens(labels, SampleSpec(steps=4, unmasking="random"), gen(3))
    other = family.sample_tokens(labels, SampleSpec(steps=4, unmasking="confidence"), gen(3))
    assert torch.equal(default, spelled) and not torch.equal(default, other)
    with pytest.raises(ConfigError, match="unmasking order"):
        family.sample_tokens(labels, SampleSpec(steps=4, unmasking="raster"), gen(3))


def test_seeds_reproduce_and_differ():
    family = tiny_family()
    labels = torch.tensor([0, 1, 2, 3])  # 3 = the null class
    spec = SampleSpec(steps=5, cfg=2.0, temperature=1.0, top_k=50)
    a = family.sample(labels, spec, gen(7))
    assert torch.equal(a, family.sample(labels, spec, gen(7)))
    assert not torch.equal(a, family.sample(labels, spec, gen(8)))
    assert a.shape == (4, *SHAPE) and a.min() >= -1 and a.max() <= 1


def test_guidance_at_scale_one_samples_from_the_conditional_logits():
    family = tiny_family()
    labels = torch.tensor([0, 2])
    got = family.sample_tokens(labels, SampleSpec(steps=4, cfg=1.0), gen(5))
    want = maskgit.decode(
        lambda t: family.net(t, labels), 2, 16, family.mask_token, steps=4, generator=gen(5),
        unmasking=family.default_unmasking,
    )  # fmt: skip
    assert torch.equal(got, want)
    x = torch.randint(0, 257, (2, 16))
    torch.testing.assert_close(
        guided(family.net, labels, NUM_CLASSES, 1.0)(x), family.net(x, labels)
    )


def test_guidance_needs_a_conditional_model():
    net = MaskGIT(maskgit_config("maskgit-tiny", image_shape=SHAPE, num_classes=0, **TINY))
    family = MaskGITFamily(net, 0, SHAPE)
    with pytest.raises(ConfigError, match="unconditional"):
        family.sample(torch.zeros(1, dtype=torch.long), SampleSpec(steps=2, cfg=3.0), gen())


def test_bad_decoding_settings_are_config_errors():
    with pytest.raises(ConfigError):
        maskgit.decode(Recorder(4), 1, 4, 4, steps=0)
    with pytest.raises(ConfigError):
        maskgit.decode(Recorder(4), 1, 4, 4, choice_temperature=-1.0)
    with pytest.raises(ConfigError):
        tiny_family(choice_temperature=-1.0)


# ------------------------------------------------------------------------------ loss and bound


def test_loss_reads_only_the_masked_positions():
    """The loss's gradient w.r.t. the logits is zero at every position the input did not mask."""
    family = tiny_family()
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["tokens"], captured["logits"] = inputs[0], output

    handle = family.net.register_forward_hook(keep)
    images = torch.rand(6, *SHAPE) * 2 - 1
    family.loss(Batch(images, torch.arange(6) % NUM_CLASSES), gen()).sum().backward()
    handle.remove()
    masked = captured["tokens"] == family.mask_token
    grad = captured["logits"].grad.abs().sum(-1)
    assert masked.any(dim=1).all()
    assert (grad[~masked] == 0).all() and (grad[masked] > 0).all()


def test_masked_token_loss_is_the_mean_over_masked_positions():
    logits = torch.randn(2, 5, 4)
    targets = torch.randint(0, 4, (2, 5))
    mask = torch.tensor([[1, 0, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    got = maskgit.masked_token_loss(logits, targets, mask)
    torch.testing.assert_close(got, torch.stack([ce[0, [0, 2]].mean(), ce[1].mean()]))
    changed = logits.clone()
    changed[0, 1] += 10  # an unmasked position
    torch.testing.assert_close(maskgit.masked_token_loss(changed, targets, mask), got)


def test_a_uniform_model_bounds_at_exactly_8_bits_per_dim():
    class Uniform(torch.nn.Module):
        cfg = maskgit_config("maskgit-tiny", image_shape=SHAPE, num_classes=NUM_CLASSES)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, tokens, y):
            return torch.zeros(*tokens.shape, 256) + self.w

    family = MaskGITFamily(Uniform(), NUM_CLASSES, SHAPE)
    images = torch.rand(5, *SHAPE) * 2 - 1
    nats = family.nll(Batch(images, torch.arange(5) % NUM_CLASSES), gen())
    torch.testing.assert_close(bits_per_dim(nats, SHAPE), torch.full((5,), 8.0))


def test_the_bound_is_an_unbiased_mean_over_mask_sizes():
    """E over m ~ U{1..L} of (L/m)·Σ_M CE: with CE ≡ c per token the bound is L·c for any draw."""
    L, V = 10, 3
    logits = torch.zeros(4, L, V)
    logits[..., 0] = 1.0
    targets = torch.zeros(4, L, dtype=torch.long)
    c = -torch.log_softmax(logits[0, 0], -1)[0]
    got = maskgit.order_agnostic_bound(lambda t: logits, targets, V, gen())
    torch.testing.assert_close(got, torch.full((4,), float(L * c)))


# ------------------------------------------------------------------------------ VQ tokens


class FakeTokenizer:
    """A 2×2 code grid of 4×4 images: code = the quantised mean of each 2×2 block (8 codes)."""

    token_grid = (2, 2)
    codebook_size = 8

    def encode(self, images):
        blocks = torch.nn.functional.avg_pool2d(images, 2)[:, 0]  # (B, 2, 2) in [-1, 1]
        return ((blocks + 1) / 2 * 7).round().long()

    def decode(self, indices):
        values = indices.float() / 7 * 2 - 1
        return values.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, None]


def test_vq_family_trains_and_samples_codes():
    net = MaskGIT(
        maskgit_config(
            "maskgit-tiny", grid=(2, 2, 1), vocab_size=8, num_classes=NUM_CLASSES, **TINY
        )
    )
    family = MaskGITVQFamily(net, FakeTokenizer(), NUM_CLASSES, SHAPE)
    images = torch.rand(4, *SHAPE) * 2 - 1
    labels = torch.arange(4) % NUM_CLASSES
    loss = family.loss(Batch(images, labels), gen())
    assert loss.shape == (4,) and torch.isfinite(loss).all()
    cached = FakeTokenizer().encode(images)  # integer grids from a token cache
    assert family.loss(Batch(cached, labels), gen()).shape == (4,)
    samples = family.sample(labels, SampleSpec(steps=3, cfg=1.5), gen())
    assert samples.shape == (4, *SHAPE)
    assert family.likelihood.scored is Scored.CODES and not family.likelihood.exact


# ------------------------------------------------------------------------------ end to end


def test_build_registers_the_family():
    cfg = TrainConfig(family="maskgit", model_overrides=TINY)
    family = build_family(cfg, DataSpec((1, 8, 8), 10))
    assert isinstance(family, MaskGITFamily) and family.seq_len == 64
    with pytest.raises(ConfigError, match="tokenizer"):
        TrainConfig(family="dit", tokenizer="somewhere")


@pytest.mark.slow
def test_train_a_few_steps_then_sample_with_the_cli(tmp_path, capsys):
    from trigen import api
    from trigen.cli import main

    run = tmp_path / "run"
    cfg = TrainConfig(
        family="maskgit", resolution=8, batch_size=8, max_steps=3, log_every=1,
        model_overrides={**TINY, "positions": "rope", "class_bias": True},
    )  # fmt: skip
    result = api.train(cfg, run, device="cpu")
    assert result.images_seen == 24 and math.isfinite(result.last_loss)
    png = tmp_path / "grid.png"
    argv = ["sample", "--checkpoint", str(run), "--n", "4", "--steps", "6", "--cfg", "2"]
    code = main([*argv, "--labels", "0,1", "--out", str(png), "--quiet"])
    text = capsys.readouterr()
    assert code == 0, text
    grid = np.asarray(Image.open(png))
    assert grid.ndim >= 2 and grid.size > 0
    code = main(["eval", "--checkpoint", str(run), "--max-images", "8"])
    text = capsys.readouterr().out
    assert code == 0 and "bound" in text and "not an exact likelihood" in text
    # without --steps, the CLI decodes in MaskGIT's own K, not the diffusion default of 50
    from trigen.autoregressive.maskgit import DEFAULT_STEPS
    from trigen.families.maskgit import MaskGITFamily

    seen = []
    real = MaskGITFamily.sample

    def spy(self, labels, spec, generator=None):
        seen.append((spec.steps, spec.unmasking))
        return real(self, labels, spec, generator)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MaskGITFamily, "sample", spy)
        code = main(["sample", "--checkpoint", str(run), "--n", "2", "--out", str(png), "--quiet"])
        assert code == 0 and seen and set(seen) == {(DEFAULT_STEPS, None)}
        seen.clear()
        code = main([*argv, "--unmasking", "confidence", "--out", str(png), "--quiet"])
        assert code == 0 and set(seen) == {(6, "confidence")}
    code = main([*argv, "--unmasking", "raster", "--out", str(png), "--quiet"])
    assert code != 0 and "unmasking order 'raster'" in capsys.readouterr().err


def test_the_report_names_the_decoding_order():
    family = tiny_family()
    assert family.sampler_description(SampleSpec(steps=4)) == "parallel decoding, random order"
    spec = SampleSpec(steps=4, unmasking="confidence")
    assert family.sampler_description(spec) == "parallel decoding, confidence order"
