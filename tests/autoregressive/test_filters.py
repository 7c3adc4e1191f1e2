"""Logit filters keep exactly the sets they promise."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.autoregressive.filters import (
    apply_temperature,
    check_sampling,
    filter_logits,
    top_k_filter,
    top_p_filter,
)
from trigen.errors import ConfigError


def random_logits(seed: int, vocab: int = 32) -> torch.Tensor:
    return torch.randn(4, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def entropy(logits: torch.Tensor) -> torch.Tensor:
    p = logits.softmax(-1)
    return -(p * p.clamp_min(1e-30).log()).sum(-1)


def test_temperature_keeps_order_and_orders_entropy():
    logits = random_logits(0)
    assert torch.equal(apply_temperature(logits, 1.0), logits)
    cold, hot = apply_temperature(logits, 0.5), apply_temperature(logits, 2.0)
    assert torch.equal(cold.argsort(-1), logits.argsort(-1))
    assert torch.all(entropy(cold) < entropy(logits)) and torch.all(entropy(logits) < entropy(hot))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 40))
def test_top_k_keeps_the_k_largest(seed, k):
    logits = random_logits(seed)
    out = top_k_filter(logits, k)
    kept = torch.isfinite(out)
    assert torch.all(kept.sum(-1) == min(k, logits.shape[-1]))
    expected = torch.zeros_like(kept).scatter(-1, logits.topk(min(k, 32), -1).indices, True)
    assert torch.equal(kept, expected)
    assert torch.equal(out[kept], logits[kept])  # survivors are untouched


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.01, 0.99))
def test_top_p_keeps_the_smallest_nucleus(seed, p):
    logits = random_logits(seed)
    kept = torch.isfinite(top_p_filter(logits, p))
    probs = logits.softmax(-1)
    for row in range(logits.shape[0]):
        mass = probs[row][kept[row]]
        assert mass.sum() >= p - 1e-6  # the nucleus holds at least p …
        assert mass.sum() - mass.min() < p + 1e-6  # … and dropping its least token would not
        # every kept token is at least as likely as every removed one
        removed = probs[row][~kept[row]]
        assert removed.numel() == 0 or mass.min() >= removed.max()


def test_top_p_one_keeps_all_and_tiny_p_keeps_the_argmax():
    logits = random_logits(1)
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    kept = torch.isfinite(top_p_filter(logits, 1e-6))
    assert torch.equal(kept.nonzero()[:, 1], logits.argmax(-1))


def test_filter_logits_composes_in_order():
    logits = random_logits(2)
    out = filter_logits(logits, temperature=0.7, top_k=10, top_p=0.5)
    manual = top_p_filter(top_k_filter(logits / 0.7, 10), 0.5)
    assert torch.equal(out, manual)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"), [(0.0, None, None), (1.0, 0, None), (1.0, None, 1.5)]
)
def test_bad_sampling_options_are_refused(temperature, top_k, top_p):
    with pytest.raises(ConfigError):
        check_sampling(temperature, top_k, top_p)
