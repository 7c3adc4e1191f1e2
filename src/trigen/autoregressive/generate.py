"""Sampling token sequences one token at a time: prefill + decode over a preallocated KV cache.

Guidance goes through :func:`trigen.conditions.guided`: the batch is repeated once per branch of
the guidance plan (classifier-free guidance: [cond ‖ uncond], class ‖ null class; nested
per-condition guidance: one branch per level) for the whole sequence, every branch shares one KV
cache of ``branches × B`` rows, the guided logits pick one token per image and that token is fed
to every branch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import torch
from torch import Tensor

from trigen.autoregressive.filters import check_sampling, filter_logits
from trigen.batch import NO_CONDITIONS
from trigen.conditions import Guidance, Guided, guided
from trigen.errors import DataError
from trigen.guidance import NO_GUIDANCE
from trigen.nn.kv_cache import KVCache


class TokenModel(Protocol):
    """What generation needs of a network (e.g. ``trigen.models.ar_transformer.ARTransformer``).

    ``model(tokens (B, T), y (B,), cache)`` returns logits (B, T', V) of the stream positions it
    reads: the class token first iff the cache is empty (or absent), then the tokens. A model
    with named conditions also takes them, ``model(tokens, y, cache, conds)``; it is called so
    only when there are any.
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
    cfg: float | Guidance = NO_GUIDANCE,
    null_label: int,
    prefix: Tensor | None = None,
    use_cache: bool = True,
    conds: Mapping[str, Tensor] = NO_CONDITIONS,
) -> Tensor:
    """Sample sequences (B, seq_len) int64 for classes ``y`` (B,) on ``y``'s device.

    ``prefix`` (B, n) optionally fixes the first n tokens (completion). ``conds`` are the named
    conditions, checked (:meth:`~trigen.families.labels.ClassConditioning.sampling_inputs`).
    ``cfg`` is the guidance scale over every condition (``NO_GUIDANCE`` = plain conditional
    sampling, one forward per step, no null half) or a :class:`~trigen.conditions.Guidance`
    (per-condition scales, nested); ``null_label`` is the null class (0: no class condition).
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
    guidance = cfg if isinstance(cfg, Guidance) else Guidance(cfg)

    def draw(logits: Tensor) -> Tensor:
        return sample_token(logits, generator, temperature, top_k, top_p)

    def step_of(fn: Callable[..., Tensor]) -> Guided:
        """``fn(x, labels, conds)`` guided over the branches, conds passed only when any."""

        def run(x: Tensor, labels: Tensor, branch_conds: Mapping[str, Tensor]) -> Tensor:
            return fn(x, labels, *((branch_conds,) if branch_conds else ()))

        return guided(run, y, conds, null_label, guidance)

    with torch.inference_mode():
        if use_cache:
            decode_with_cache(model, tokens, start, step_of, draw)
        else:
            decode_recomputing(model, tokens, start, step_of, draw)
    return tokens


StepOf = Callable[[Callable[..., Tensor]], Guided]
"""``step_of(fn)``: a network call ``fn(x, labels[, conds]) → logits (B', V)`` guided over the
branches of the guidance plan (:func:`generate`)."""


def decode_with_cache(
    model: TokenModel, tokens: Tensor, start: int, step_of: StepOf,
    draw: Callable[[Tensor], Tensor],
) -> None:  # fmt: skip
    """Fill ``tokens[:, start:]`` (B, L) in place: a prefill, then one cached position a step.
    The cache holds every branch of the guidance plan: ``branches × B`` rows."""
    seq_len = tokens.shape[1]
    if start == seq_len:
        return
    cache: KVCache | None = None  # allocated once the number of branches is known
    step = step_of(lambda x, labels, *conds: model(x, labels, cache, *conds)[:, -1])
    cache = model.new_cache(step.branches * tokens.shape[0], device=tokens.device)
    logits = step(tokens[:, :start])  # prefill (conditions, class, given tokens): x_start
    for i in range(start, seq_len):
        tokens[:, i] = draw(logits)
        if i + 1 < seq_len:
            logits = step(tokens[:, i : i + 1])  # decode: feed x_i, get logits for x_{i+1}


def decode_recomputing(
    model: TokenModel, tokens: Tensor, start: int, step_of: StepOf,
    draw: Callable[[Tensor], Tensor],
) -> None:  # fmt: skip
    """Fill ``tokens[:, start:]`` in place, running the model over the whole prefix every step."""
    step = step_of(lambda x, labels, *conds: model(x, labels, None, *conds)[:, -1])
    for i in range(start, tokens.shape[1]):
        tokens[:, i] = draw(step(tokens[:, :i]))  # logits (B, V) for x_i
