"""Tiny data and autoencoders for the latent-space tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trigen.data.idx import write_idx

SIDE = 16  # image side of the tiny dataset


def write_idx_dataset(root: Path, n_train: int = 48, n_test: int = 16) -> Path:
    """Bars whose height encodes the class (3 classes), SIDE×SIDE, in MNIST's IDX layout."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 3, n).astype(np.uint8)
        images = np.zeros((n, SIDE, SIDE), np.uint8)
        for i, label in enumerate(labels):
            top = 2 + 3 * int(label) + int(rng.integers(0, 2))
            images[i, top : top + 5, 3:13] = rng.integers(128, 256)
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return root


def save_tiny_vae(directory: Path, *, in_channels: int = 3, scaling_factor: float = 0.18215):
    """A randomly initialised diffusers AutoencoderKL (downsample 2, 4 latent channels)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=in_channels,
        out_channels=in_channels,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=SIDE,
        scaling_factor=scaling_factor,
    )
    vae.save_pretrained(str(directory))
    return vae.eval()
