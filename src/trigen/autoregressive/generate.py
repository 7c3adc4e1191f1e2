"""Sampling token sequences one token at a time: prefill + decode over a preallocated KV cache.

Classifier-free guidance goes through :func:`trigen.guidance.guided`: the batch is doubled as
[cond ‖ uncond] (class ‖ null class) for the whole sequence, both halves share one KV cache, the
guided logits pick one token per image and that token is fed to both halves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

from trigen.autoregressive.filters import check_sampling, filter_logits
from trigen.errors import DataError
from trigen.guidance import NO_GUIDANCE, guided
from trigen.nn.kv_cache import KVCache


class TokenModel(Protocol):
    """What generation needs of a network (e.g. ``trigen.models.ar_transformer.ARTransformer``).

    ``model(tokens (B, T), y (B,), cache)`` returns logits (B, T', V) of the stream positions it
    reads: the class token first iff the cache is empty (or absent), then the tokens.
    """

    def __call__(self, tokens: Tensor, y: Tensor, cache: KVCache | None = None) -> Tensor: ...

    def new_cache(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> KVCache: ...


def sample_token(
    logits: Tensor,
    generator: torch.Generator | None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """One token (B,) int64 drawn from filtered ``logits`` (B, V) with ``generator``.

    Inverse-CDF sampling: one uniform per row located in the cumulative probabilities (several
    times cheaper per decode step than ``torch.multinomial``); removed tokens have zero width in
    the CDF, so they are never drawn.
    """
    probs = filter_logits(logits.float(), temperature, top_k, top_p).softmax(dim=-1)
    cdf = probs.cumsum(dim=-1)  # (B, V)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    index = torch.searchsorted(cdf, u, right=True)  # first token whose CDF exceeds u
    return index.squeeze(1).clamp_max(cdf.shape[1] - 1)


def generate(
    model: TokenModel,
    y: Tensor,
    *,
    seq_len: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    cfg: float = NO_GUIDANCE,
    null_label: int,
    prefix: Tensor | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Sample sequences (B, seq_len) int64 for classes ``y`` (B,) on ``y``'s device.

    ``prefix`` (B, n) optionally fixes the first n tokens (completion). ``cfg`` is the guidance
    scale (``NO_GUIDANCE`` = plain conditional sampling, one forward per step, no null half).
    ``use_cache=False`` recomputes the whole prefix at every step (the benchmark's baseline); both
    paths read the same logits up to float rounding and draw the same tokens from one generator.
    ``generator`` must live on ``y``'s device. Deterministic given the generator. Runs in
    inference mode; the returned tensor is an ordinary one.
    """
    check_sampling(temperature, top_k, top_p)
    batch = y.shape[0]
    tokens = torch.zeros(batch, seq_len, dtype=torch.long, device=y.device)  # filled in place
    start = 0
    if prefix is not None:
        if prefix.ndim != 2 or prefix.shape[0] != batch or prefix.shape[1] > seq_len:
            raise DataError(
                f"prefix must be (B={batch}, n ≤ {seq_len}) tokens, got {tuple(prefix.shape)}"
            )
        start = prefix.shape[1]
        tokens[:, :start] = prefix

    def draw(logits: Tensor) -> Tensor:
        return sample_token(logits, generator, temperature, top_k, top_p)

    with torch.inference_mode():
        if use_cache:
            decode_with_cache(model, tokens, start, y, draw, cfg, null_label)
        else:
            decode_recomputing(model, tokens, start, y, draw, cfg, null_label)
    return tokens


def decode_with_cache(
    model: TokenModel, tokens: Tensor, start: int, y: Tensor,
    draw: Callable[[Tensor], Tensor], cfg: float, null_label: int,
) -> None:  # fmt: skip
    """Fill ``tokens[:, start:]`` (B, L) in place: a prefill, then one cached position a step."""
    seq_len = tokens.shape[1]
    if start == seq_len:
        return
    rows = tokens.shape[0] if cfg == NO_GUIDANCE else 2 * tokens.shape[0]  # [cond ‖ uncond]
    cache = model.new_cache(rows, device=tokens.device)
    step = guided(lambda x, labels: model(x, labels, cache)[:, -1], y, null_label, cfg)
    logits = step(tokens[:, :start])  # prefill: class token + prefix → logits (B, V) for x_start
    for i in range(start, seq_len):
        tokens[:, i] = draw(logits)
        if i + 1 < seq_len:
            logits = step(tokens[:, i : i + 1])  # decode: feed x_i, get logits for x_{i+1}


def decode_recomputing(
    model: TokenModel, tokens: Tensor, start: int, y: Tensor,
    draw: Callable[[Tensor], Tensor], cfg: float, null_label: int,
) -> None:  # fmt: skip
    """Fill ``tokens[:, start:]`` in place, running the model over the whole prefix every step."""
    step = guided(lambda x, labels: model(x, labels)[:, -1], y, null_label, cfg)
    for i in range(start, tokens.shape[1]):
        tokens[:, i] = draw(step(tokens[:, :i]))  # logits (B, V) for x_i
