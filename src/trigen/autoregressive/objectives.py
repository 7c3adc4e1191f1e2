"""Training objectives of autoregressive models, in nats."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Negative log-likelihood in nats per sequence (B,): the sum over tokens of −log p(target).

    ``logits`` (B, L, V) of any float dtype (computed in float32), ``targets`` (B, L) int64.
    For a pixel model this is the exact NLL per image of its 8-bit discretisation.
    """
    B, L, V = logits.shape
    # class dim last and rows flattened: log-softmax runs over contiguous rows, with no transposed
    # (B, V, L) view that the kernel would otherwise walk with stride L
    flat = F.cross_entropy(
        logits.reshape(B * L, V).float(), targets.reshape(B * L), reduction="none"
    )
    return flat.view(B, L).sum(dim=1)
