"""Images ↔ pixel tokens: 8-bit levels in raster order, channels interleaved (R, G, B per pixel)."""

from __future__ import annotations

import torch
from torch import Tensor

from trigen.data.transforms import from_model_range, to_model_range
from trigen.errors import DataError


def images_to_tokens(images: Tensor) -> Tensor:
    """Float images (B, C, H, W) in [-1, 1] → int64 tokens (B, H·W·C) in 0..255.

    Each value is rounded to the nearest of 256 levels (``k / 127.5 − 1``);
    token ``(y·W + x)·C + c`` is channel ``c`` of pixel ``(y, x)``.
    """
    if images.ndim != 4:
        raise DataError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
    levels = from_model_range(images)  # (B, C, H, W) uint8
    return levels.permute(0, 2, 3, 1).reshape(images.shape[0], -1).long()  # (B, H·W·C)


def tokens_to_images(tokens: Tensor, image_shape: tuple[int, int, int]) -> Tensor:
    """Tokens (B, H·W·C) in 0..255 → float32 images (B, C, H, W) in [-1, 1] (the inverse)."""
    c, h, w = image_shape
    if tokens.ndim != 2 or tokens.shape[1] != c * h * w:
        raise DataError(
            f"expected tokens (B, {c * h * w}) for images {image_shape}, got {tuple(tokens.shape)}"
        )
    grid = tokens.view(tokens.shape[0], h, w, c).permute(0, 3, 1, 2)  # (B, C, H, W)
    return to_model_range(grid.to(torch.uint8))
