"""Sampling: cache ≡ recompute, greedy ≡ top-k 1, CFG through the shared guidance function."""

import pytest
import torch

from trigen.autoregressive.filters import filter_logits
from trigen.autoregressive.generate import generate, sample_token
from trigen.guidance import NO_GUIDANCE, classifier_free_guidance
from trigen.models.ar_transformer import ARTransformer, ar_config

NUM_CLASSES = 4
NULL = NUM_CLASSES


@pytest.fixture
def model() -> ARTransformer:
    cfg = ar_config(
        "ar-tiny", grid=(3, 4, 1), num_classes=NUM_CLASSES, vocab_size=16, width=32, depth=2,
        heads=4,
    )  # fmt: skip
    net = ARTransformer(cfg).eval()
    with torch.no_grad():  # a peaked model, so guided and unguided choices really differ
        net.head.weight.mul_(50)
    return net


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


LABELS = torch.tensor([0, 3, 1])


def sample(model, labels=LABELS, seed=0, **kwargs) -> torch.Tensor:
    kwargs.setdefault("null_label", NULL)
    return generate(model, labels, seq_len=model.cfg.seq_len, generator=gen(seed), **kwargs)


@pytest.mark.parametrize("cfg", [NO_GUIDANCE, 3.0])
def test_cache_and_recompute_draw_the_same_tokens(model, cfg):
    cached = sample(model, cfg=cfg, temperature=1.3)
    recomputed = sample(model, cfg=cfg, temperature=1.3, use_cache=False)
    assert cached.shape == (3, 12) and cached.dtype == torch.int64
    assert torch.equal(cached, recomputed)


def test_unguided_generation_is_ancestral_sampling(model):
    """With scale 1, generate draws each token from the conditional p(x_i | x_<i, y)."""
    tokens = sample(model, cfg=NO_GUIDANCE)
    reference = torch.zeros_like(tokens)
    g = gen(0)
    with torch.no_grad():
        for i in range(tokens.shape[1]):
            reference[:, i] = sample_token(model(reference[:, :i], LABELS)[:, -1], g)
    assert torch.equal(tokens, reference)


def test_sample_token_draws_from_the_filtered_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5, -3.0]]).expand(40_000, -1)
    draws = sample_token(logits, gen(0), temperature=1.5, top_k=4)
    expected = filter_logits(logits[:1], temperature=1.5, top_k=4).softmax(-1)[0]
    frequency = torch.bincount(draws, minlength=6) / draws.numel()
    assert torch.all(frequency[expected == 0] == 0)  # filtered tokens never appear
    torch.testing.assert_close(frequency, expected, atol=0.01, rtol=0)


def test_top_k_one_is_greedy(model):
    tokens = sample(model, top_k=1)
    with torch.no_grad():
        logits = model(tokens[:, :-1], LABELS)
    assert torch.equal(tokens, logits.argmax(-1))


def test_guided_greedy_follows_guided_logits(model):
    scale = 2.5
    tokens = sample(model, top_k=1, cfg=scale)
    with torch.no_grad():
        cond = model(tokens[:, :-1], LABELS)
        uncond = model(tokens[:, :-1], torch.full_like(LABELS, NULL))
    assert torch.equal(tokens, classifier_free_guidance(cond, uncond, scale).argmax(-1))


def test_scale_zero_is_unconditional_sampling(model):
    guided = sample(model, top_k=1, cfg=0.0)
    unconditional = sample(model, labels=torch.full_like(LABELS, NULL), top_k=1)
    assert torch.equal(guided, unconditional)


def test_deterministic_given_a_generator(model):
    assert torch.equal(sample(model, seed=5, cfg=2.0), sample(model, seed=5, cfg=2.0))
    assert not torch.equal(sample(model, seed=5), sample(model, seed=6))


def test_prefix_is_kept_and_continued_alike(model):
    prefix = torch.randint(0, 16, (3, 5))
    cached = sample(model, prefix=prefix, cfg=1.5)
    assert torch.equal(cached[:, :5], prefix)
    assert torch.equal(cached, sample(model, prefix=prefix, cfg=1.5, use_cache=False))


def test_returned_tokens_are_ordinary_tensors(model):
    tokens = sample(model)
    tokens.add_(1)  # would fail on an inference-mode tensor
    assert not tokens.is_inference()
