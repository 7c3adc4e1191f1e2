"""Training objectives of autoregressive models, in nats."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Negative log-likelihood in nats per sequence (B,): the sum over tokens of −log p(target).

    ``logits`` (B, L, V) of any float dtype (computed in float32), ``targets`` (B, L) int64.
    For a pixel model this is the exact NLL per image of its 8-bit discretisation.
    """
    per_token = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # (B, L)
    return per_token.sum(dim=1)
