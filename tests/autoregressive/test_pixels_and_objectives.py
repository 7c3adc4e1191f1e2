"""Images ↔ tokens round-trip exactly; the token NLL is a sum of per-token nats."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.autoregressive.objectives import token_nll
from trigen.autoregressive.pixels import images_to_tokens, tokens_to_images
from trigen.data.transforms import to_model_range


@settings(max_examples=20, deadline=None)
@given(channels=st.sampled_from([1, 3]), h=st.integers(1, 6), w=st.integers(1, 6))
def test_images_tokens_round_trip_exactly(channels, h, w):
    levels = torch.randint(0, 256, (2, channels, h, w), dtype=torch.uint8)
    images = to_model_range(levels)
    tokens = images_to_tokens(images)
    assert tokens.shape == (2, h * w * channels) and tokens.dtype == torch.int64
    assert torch.equal(tokens_to_images(tokens, (channels, h, w)), images)
    # raster order, channels interleaved: token (y·W + x)·C + c is channel c of pixel (y, x)
    y, x, c = h - 1, w // 2, channels - 1
    assert tokens[0, (y * w + x) * channels + c] == levels[0, c, y, x]


def test_tokens_round_to_the_nearest_level():
    levels = torch.randint(0, 256, (3, 1, 4, 4), dtype=torch.uint8)
    jitter = (torch.rand(levels.shape) - 0.5) * 0.9 / 127.5  # under half a level either way
    assert torch.equal(images_to_tokens(to_model_range(levels) + jitter).view(3, 1, 4, 4), levels)


def test_token_nll_is_the_summed_cross_entropy():
    logits = torch.randn(2, 5, 7)
    targets = torch.randint(0, 7, (2, 5))
    manual = -logits.log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1).sum(-1)
    torch.testing.assert_close(token_nll(logits, targets), manual)
    uniform = token_nll(torch.zeros(2, 5, 256), targets)
    torch.testing.assert_close(uniform, torch.full((2,), 5 * math.log(256)))
