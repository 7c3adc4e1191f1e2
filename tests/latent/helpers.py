"""Tiny data, autoencoders and an official-layout DiT state dict for the latent-space tests."""

from __future__ import annotations

import math
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


def official_dit_state_dict(*, hidden=128, depth=6, channels=4, patch=2, size=8, classes=5):
    """Random tensors under the facebookresearch/DiT names and shapes (learned σ: 2C out).

    Width 128 and depth 6 are trigen's DiT-T, so the head count is known without passing it.
    """
    g = torch.Generator().manual_seed(1)
    state: dict[str, torch.Tensor] = {}

    def linear(name: str, fan_out: int, fan_in: int) -> None:
        state[f"{name}.weight"] = torch.randn(fan_out, fan_in, generator=g) / math.sqrt(fan_in)
        state[f"{name}.bias"] = 0.02 * torch.randn(fan_out, generator=g)

    tokens = (size // patch) ** 2
    state["pos_embed"] = 0.1 * torch.randn(1, tokens, hidden, generator=g)
    state["x_embedder.proj.weight"] = torch.randn(hidden, channels, patch, patch, generator=g)
    state["x_embedder.proj.bias"] = torch.zeros(hidden)
    linear("t_embedder.mlp.0", hidden, 256)
    linear("t_embedder.mlp.2", hidden, hidden)
    state["y_embedder.embedding_table.weight"] = torch.randn(classes + 1, hidden, generator=g)
    for n in range(depth):
        linear(f"blocks.{n}.attn.qkv", 3 * hidden, hidden)
        linear(f"blocks.{n}.attn.proj", hidden, hidden)
        linear(f"blocks.{n}.mlp.fc1", 4 * hidden, hidden)
        linear(f"blocks.{n}.mlp.fc2", hidden, 4 * hidden)
        linear(f"blocks.{n}.adaLN_modulation.1", 6 * hidden, hidden)
    linear("final_layer.linear", patch * patch * 2 * channels, hidden)
    linear("final_layer.adaLN_modulation.1", 2 * hidden, hidden)
    return state
