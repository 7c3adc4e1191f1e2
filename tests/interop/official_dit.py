"""An official-layout DiT state dict (facebookresearch/DiT names and shapes) with random
weights and the MAE sin-cos positions, written from the paper, not from trigen's modules."""

import math

import numpy as np
import torch


def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """[sin(pos·ω), cos(pos·ω)], ω_i = 1 / 10000^(2i/dim) (Vaswani et al.), float64."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2))
    angles = pos.reshape(-1)[:, None] * omega[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid: int) -> np.ndarray:
    """Row-major tokens; first half of the features encode the column, second half the row."""
    ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    return np.concatenate([sincos_1d(dim // 2, xs), sincos_1d(dim // 2, ys)], axis=1)


def official_state_dict(
    *, hidden=32, depth=2, channels=4, patch=2, size=8, classes=5, learn_sigma=False, mlp=4
):
    """A randomly initialised state dict with the official DiT key names and shapes."""
    g = torch.Generator().manual_seed(1)
    D, out_c = hidden, (2 * channels if learn_sigma else channels)

    def linear(name, fan_out, fan_in):
        sd[f"{name}.weight"] = torch.randn(fan_out, fan_in, generator=g) / math.sqrt(fan_in)
        sd[f"{name}.bias"] = 0.1 * torch.randn(fan_out, generator=g)

    sd = {}
    grid = size // patch
    sd["pos_embed"] = torch.from_numpy(sincos_2d(D, grid)).float()[None]
    sd["x_embedder.proj.weight"] = torch.randn(D, channels, patch, patch, generator=g) / patch
    sd["x_embedder.proj.bias"] = 0.1 * torch.randn(D, generator=g)
    linear("t_embedder.mlp.0", D, 256)
    linear("t_embedder.mlp.2", D, D)
    sd["y_embedder.embedding_table.weight"] = torch.randn(classes + 1, D, generator=g)
    for n in range(depth):
        linear(f"blocks.{n}.attn.qkv", 3 * D, D)
        linear(f"blocks.{n}.attn.proj", D, D)
        linear(f"blocks.{n}.mlp.fc1", mlp * D, D)
        linear(f"blocks.{n}.mlp.fc2", D, mlp * D)
        linear(f"blocks.{n}.adaLN_modulation.1", 6 * D, D)
    linear("final_layer.linear", patch * patch * out_c, D)
    linear("final_layer.adaLN_modulation.1", 2 * D, D)
    return sd
