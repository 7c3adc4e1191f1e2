"""Pixel conversions between stored uint8 and the model's [-1, 1] range; whole-set resizing.

Datasets are stored as uint8 (N, C, H, W); every change of size or channel count happens once, at
load time, with the functions here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trigen.errors import ConfigError

PIXEL_MAX = 255
HALF_RANGE = PIXEL_MAX / 2  # 127.5: uint8 k maps to k / 127.5 - 1, so 0 -> -1 and 255 -> 1
# ITU-R BT.601 luma weights, the same that Pillow's "L" conversion uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
VALID_CHANNELS = (1, 3)
RESIZE_CHUNK = 4096  # images resized per call, to bound the float copy's memory


def to_model_range(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 images (any shape) in 0..255 -> ``dtype`` in [-1, 1]."""
    return images.to(dtype) / HALF_RANGE - 1


def from_model_range(images: Tensor) -> Tensor:
    """Float images in [-1, 1] (any shape) -> uint8 0..255, rounded to nearest and clamped.

    Exact inverse of :func:`to_model_range` on uint8 input.
    """
    return ((images.float() + 1) * HALF_RANGE).round().clamp(0, PIXEL_MAX).to(torch.uint8)


def check_channels(channels: int) -> int:
    """Return ``channels`` if it is 1 (grayscale) or 3 (RGB); raise ConfigError otherwise."""
    if channels not in VALID_CHANNELS:
        raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    return channels


def check_resolution(resolution: int) -> int:
    """Return ``resolution`` if it is a positive int; raise ConfigError otherwise."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ConfigError(f"resolution must be a positive number of pixels, got {resolution!r}")
    return resolution


def convert_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> uint8 (N, channels, H, W).

    Grayscale becomes RGB by repeating the plane; RGB becomes grayscale by BT.601 luma, rounded.
    """
    check_channels(channels)
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32).view(1, 3, 1, 1)
    luma = (images.float() * weights).sum(dim=1, keepdim=True)
    return luma.round().clamp(0, PIXEL_MAX).to(torch.uint8)


def pad_uint8(images: Tensor, resolution: int) -> Tensor:
    """Zero-pad square uint8 (N, C, S, S) evenly to (N, C, resolution, resolution).

    The standard way to bring 28-pixel MNIST digits (black background) to 32: 2 pixels each side.
    """
    pad = resolution - images.shape[-1]
    if pad < 0 or pad % 2:
        raise ConfigError(f"cannot pad {images.shape[-1]} pixels evenly to {resolution}")
    return F.pad(images, (pad // 2,) * 4)


def resize_uint8(images: Tensor, resolution: int) -> Tensor:
    """Antialiased bilinear resize of square uint8 (N, C, S, S) to (N, C, resolution, resolution).

    Done in float and rounded back to uint8, in chunks of RESIZE_CHUNK images.
    """
    check_resolution(resolution)
    if images.shape[-2:] == (resolution, resolution):
        return images
    out = torch.empty((*images.shape[:2], resolution, resolution), dtype=torch.uint8)
    for start in range(0, images.shape[0], RESIZE_CHUNK):
        chunk = images[start : start + RESIZE_CHUNK].float()
        chunk = F.interpolate(chunk, size=(resolution, resolution), mode="bilinear", antialias=True)
        out[start : start + RESIZE_CHUNK] = chunk.round().clamp(0, PIXEL_MAX).to(torch.uint8)
    return out
