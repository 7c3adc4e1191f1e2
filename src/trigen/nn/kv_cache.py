"""A preallocated key/value cache for incremental causal decoding."""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    """Keys and values of every layer, in fixed buffers of shape (L, B, H, max_len, Dh).

    ``length`` tokens are filled; each layer writes its new keys/values at ``[length, length + T)``
    and attends over ``[0, length + T)``; the model calls :meth:`advance` once per forward.
    """

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        max_len: int,
        head_dim: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (num_layers, batch_size, num_heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``k, v`` (B, H, T, Dh) after the filled part; return all keys/values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: {end} tokens > max_len {self.max_len}")
        self.k[layer, :, :, start:end] = k.to(self.k.dtype)
        self.v[layer, :, :, start:end] = v.to(self.v.dtype)
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, num_tokens: int) -> None:
        """Mark ``num_tokens`` more positions as filled (after every layer has written them)."""
        self.length += num_tokens

    def reset(self) -> None:
        self.length = 0
