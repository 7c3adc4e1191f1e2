"""Masked-token modelling and parallel decoding (MaskGIT, Chang et al. 2022; random order: ARDM).

Training masks a random subset of each sequence, ``⌈γ(r) · L⌉`` tokens with r ~ U(0, 1) and
the cosine schedule γ(r) = cos(π r / 2), and scores the network's cross-entropy on the masked
positions only. Sampling starts from an all-[MASK] sequence and, in K steps, predicts every
masked token at once, keeps some of the draws and leaves ``⌊L · γ((k + 1) / K)⌋`` masked after
step k: the most confident draws (MaskGIT's order) or a uniformly random subset (the random
order of ARDM / MAR, which the order-agnostic bound describes). Networks arrive as callables
``logits_of(tokens (B, L)) → (B, L, V)``; all randomness comes from an explicit generator.
Everything here is in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch import Tensor

from trigen.autoregressive.filters import check_sampling, filter_logits
from trigen.autoregressive.generate import sample_token
from trigen.errors import ConfigError

LogitsOf = Callable[[Tensor], Tensor]
"""``logits_of(tokens (B, L) with [MASK]s) → logits (B, L, V)`` over the data vocabulary."""

DEFAULT_STEPS = 12
"""Decoding steps K when a caller has no preference (MaskGIT used 8–12 at 16×16 tokens)."""

DEFAULT_CHOICE_TEMPERATURE = 0.0
"""Scale of the Gumbel noise on confidences at the first step (MaskGIT: 4.5 at ImageNet)."""


class Unmasking(StrEnum):
    """Which masked positions a decoding step fixes.

    CONFIDENCE is MaskGIT's: the draws the model gives the highest probability (plus annealed
    Gumbel noise). On pixels it fixes the near-certain background first and leaves the strokes
    to the last steps, where many uncertain pixels are drawn independently at once: on MNIST
    16 px (pixel MaskGIT, 5 CPU-minutes of training, K = 12, cfg 3, 200 samples) class accuracy
    0.54 and domain FID 235, against 0.82 and 79 in RANDOM order, where strokes and background
    are drawn alike from the first step on. RANDOM fixes a uniformly random subset of the masked
    positions, whatever the model's confidence.
    """

    CONFIDENCE = "confidence"
    RANDOM = "random"


def mask_ratio(r: Tensor | float) -> Tensor | float:
    """The cosine mask schedule γ(r) = cos(π r / 2): 1 at r = 0 (all masked), 0 at r = 1."""
    if isinstance(r, Tensor):
        return torch.cos(0.5 * math.pi * r)
    return math.cos(0.5 * math.pi * r)


def unmask_schedule(seq_len: int, steps: int) -> list[int]:
    """Tokens still masked after each of ``steps`` decoding steps of a ``seq_len`` sequence.

    After step k (0-based) ``⌊L · γ((k + 1) / K)⌋`` tokens stay masked, but every step unmasks
    at least one token, so the counts strictly decrease until they reach 0 at the last step.
    With ``steps ≥ seq_len`` this is one token per step (γ is concave: L·γ((k+1)/L) ≥ L−k−1).
    """
    if seq_len < 1 or steps < 1:
        raise ConfigError(f"masked decoding needs seq_len, steps ≥ 1, got {seq_len}, {steps}")
    counts, masked = [], seq_len
    for k in range(steps):
        masked = max(min(masked - 1, math.floor(seq_len * mask_ratio((k + 1) / steps))), 0)
        counts.append(masked)
        if masked == 0:
            break
    return counts


def _gen_device(generator: torch.Generator | None, like: Tensor) -> torch.device:
    return generator.device if generator is not None else like.device


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """U(0, 1) draws on ``like``'s device, drawn where ``generator`` lives."""
    return torch.rand(shape, generator=generator, device=_gen_device(generator, like)).to(
        like.device
    )


def mask_of_counts(counts: Tensor, seq_len: int, generator: torch.Generator | None) -> Tensor:
    """Boolean masks (B, L): row b masks ``counts[b]`` positions drawn uniformly at random."""
    scores = _uniform((counts.shape[0], seq_len), counts, generator)
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, L): a uniformly random permutation
    return rank < counts[:, None]


def training_mask(batch: int, seq_len: int, like: Tensor, generator=None) -> Tensor:
    """Training masks (B, L): ``⌈γ(r) · L⌉`` random positions per row (at least one),
    r ~ U(0, 1) per row, on ``like``'s device."""
    r = _uniform((batch,), like, generator)
    counts = torch.ceil(mask_ratio(r) * seq_len).long().clamp(1, seq_len)
    return mask_of_counts(counts, seq_len, generator)


def masked_token_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy in nats per masked token (B,): ``logits`` (B, L, V), ``targets`` (B, L),
    ``mask`` (B, L) bool; unmasked positions contribute nothing."""
    B, L, V = logits.shape
    ce = F.cross_entropy(logits.reshape(B * L, V).float(), targets.reshape(B * L), reduction="none")
    ce = ce.view(B, L) * mask
    return ce.sum(dim=1) / mask.sum(dim=1).clamp_min(1)


def order_agnostic_bound(
    logits_of: LogitsOf, targets: Tensor, mask_token: int, generator=None
) -> Tensor:
    """One Monte-Carlo draw (B,) of the order-agnostic upper bound on −log p(x) in nats.

    For a network read as "decode one token at a time in a uniformly random order" (Uria et
    al. 2014; Hoogeboom et al. 2022, ARDM), −log p(x) ≤ E_{m ~ U{1..L}} E_{|M| = m}
    [(L / m) Σ_{i ∈ M} −log p(x_i | x_{∖M})]: draw m and a random set M of m masked positions
    per row. The bound is that random-order decoder's, not the K-step confidence sampler's.
    """
    B, L = targets.shape
    device = _gen_device(generator, targets)
    counts = torch.randint(1, L + 1, (B,), generator=generator, device=device).to(targets.device)
    mask = mask_of_counts(counts, L, generator)
    logits = logits_of(torch.where(mask, mask_token, targets))  # (B, L, V)
    return masked_token_loss(logits, targets, mask) * L  # mean over M × L = (L / m) Σ_M


def gumbel(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard Gumbel noise −log(−log u) on ``like``'s device."""
    tiny = torch.finfo(torch.float32).tiny
    u = _uniform(shape, like, generator).clamp(tiny, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def parse_unmasking(value: Unmasking | str) -> Unmasking:
    """``value`` as an :class:`Unmasking`, or a one-line error naming the choices."""
    try:
        return Unmasking(value)
    except ValueError:
        choices = ", ".join(u.value for u in Unmasking)
        raise ConfigError(f"unknown unmasking order {value!r}; choose one of {choices}") from None


def decode(
    logits_of: LogitsOf,
    batch: int,
    seq_len: int,
    mask_token: int,
    *,
    steps: int = DEFAULT_STEPS,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    choice_temperature: float = DEFAULT_CHOICE_TEMPERATURE,
    unmasking: Unmasking | str = Unmasking.CONFIDENCE,
) -> Tensor:
    """MaskGIT's iterative decoding (Chang et al. 2022, sec. 3.2) → tokens (B, L) int64.

    Each step predicts every position and draws a token for each masked one from the filtered
    logits (temperature, top-k, top-p). With ``Unmasking.CONFIDENCE`` each draw is scored by its
    log-probability under the unfiltered logits (the model's own confidence, the guided one
    under CFG) plus Gumbel noise of scale ``choice_temperature · (1 − (k + 1) / K)``; with
    ``Unmasking.RANDOM`` by a uniform draw. The best-scored draws are kept; the
    ``unmask_schedule`` count of lowest-scored positions stays masked. Positions already
    fixed are never re-masked. ``steps`` above ``seq_len`` is capped at ``seq_len``.
    """
    check_sampling(temperature, top_k, top_p)
    if choice_temperature < 0:
        raise ConfigError(f"choice_temperature must be ≥ 0, got {choice_temperature}")
    unmasking = parse_unmasking(unmasking)
    steps = min(steps, seq_len)
    tokens = torch.full((batch, seq_len), mask_token, dtype=torch.long, device=device)
    masked = torch.ones(batch, seq_len, dtype=torch.bool, device=device)
    for k, still_masked in enumerate(unmask_schedule(seq_len, steps)):
        logits = logits_of(tokens).float()  # (B, L, V)
        filtered = filter_logits(logits, temperature, top_k, top_p)
        drawn = sample_token(filtered.flatten(0, 1), generator).view(batch, seq_len)  # (B, L)
        if unmasking is Unmasking.RANDOM:
            confidence = _uniform(drawn.shape, logits, generator)
        else:
            # ranked by the model's own probability: a top-k filter would make every greedy
            # draw 1
            confidence = logits.log_softmax(-1).gather(-1, drawn[..., None]).squeeze(-1)
            noise_scale = choice_temperature * (1 - (k + 1) / steps)
            if noise_scale > 0:
                noise = gumbel(confidence.shape, confidence, generator)
                confidence = confidence + noise_scale * noise
        confidence = confidence.masked_fill(~masked, math.inf)  # fixed tokens rank last
        order = confidence.sort(dim=1, stable=True).indices  # least confident first
        keep_masked = torch.zeros_like(masked).scatter(1, order[:, :still_masked], True)
        tokens = torch.where(masked & ~keep_masked, drawn, tokens)
        masked = keep_masked
    return tokens
