"""Multi-head self- and cross-attention on fused SDPA (FlashAttention / memory-efficient)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.nn.kv_cache import KVCache
from trigen.nn.rope import apply_rope


class Attention(nn.Module):
    """Self-attention with one fused ``qkv`` projection and an output ``proj`` (DiT/timm names).

    ``forward(x)`` maps (B, T, D) → (B, T, D). ``causal=True`` masks future positions; with a
    :class:`KVCache` the new tokens attend to every cached token plus the causal part of themselves.
    ``rope`` (cos, sin), each (T, head_dim / 2), rotates queries and keys (:mod:`trigen.nn.rope`).
    """

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        cache: KVCache | None = None,
        layer: int = 0,
        rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, Dh)
        if rope is not None:  # rotary positions: keys enter the cache already rotated
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            past = cache.length
            k, v = cache.update(layer, k, v)  # (B, H, past + T, Dh)
            if T == 1 or not causal:
                out = F.scaled_dot_product_attention(q, k, v)
            elif past == 0:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # several new tokens after a non-empty cache: mask the future explicitly
                mask = causal_mask(T, past + T, x.device)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.proj(out)


def causal_mask(num_new: int, total: int, device) -> Tensor:
    """Boolean (num_new, total) mask: new token i sees positions ≤ total - num_new + i."""

    rows = torch.arange(num_new, device=device)[:, None] + (total - num_new)
    cols = torch.arange(total, device=device)[None, :]
    return cols <= rows


class CrossAttention(nn.Module):
    """Queries from tokens x (B, T, D), keys/values from a context (B, S, D_c); fused ``kv``, SDPA.

    ``context_dim`` (default ``dim``) is the context's width (a text encoder's); ``mask`` (B, S)
    bool, True = a position the queries may read (a caption's padding is False).
    """

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, mask: Tensor | None = None) -> Tensor:
        B, T, D = x.shape
        S, H = context.shape[1], self.num_heads
        q = self.q(x).view(B, T, H, D // H).transpose(1, 2)  # (B, H, T, Dh)
        k, v = self.kv(context).view(B, S, 2, H, D // H).permute(2, 0, 3, 1, 4).unbind(0)
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, T, Dh)
        return self.proj(out.transpose(1, 2).reshape(B, T, D))  # (B, T, D)
