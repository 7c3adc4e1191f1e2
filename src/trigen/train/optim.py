"""Optimizer construction, learning-rate schedule, optimizer state ↔ flat tensors."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def build_optimizer(net: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (≥ 2-D), never on biases, norms or embeddings."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "embedding" not in name else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = all(p.device.type == "cuda" for p in net.parameters())
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=fused or None)


def learning_rate(
    base_lr: float,
    images_seen: int,
    warmup_images: int,
    *,
    spent: float = 0.0,
    cooldown: float = 0.0,
) -> float:
    """Warm-up, stable, decay: linear warm-up over ``warmup_images`` images (images, not steps),
    then constant, then — when ``cooldown`` > 0 — linear decay to zero over the last
    ``cooldown`` fraction of the training budget, of which ``spent`` (in [0, 1]) is used up."""
    lr = base_lr
    if warmup_images > 0:
        lr *= min(1.0, (images_seen + 1) / warmup_images)
    if cooldown > 0:
        lr *= min(1.0, max(0.0, 1.0 - spent) / cooldown)
    return lr


def optimizer_to_tensors(
    opt: torch.optim.Optimizer,
) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    """Split an optimizer state_dict into tensors ``state.<param>.<key>`` and JSON groups."""
    sd = opt.state_dict()
    tensors = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            tensors[f"state.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, sd["param_groups"]


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list[dict[str, Any]]
) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups})
