"""Fine-tuning one arm of a pretraining experiment (C4, C12): the network built under a seed,
AdamW steps on a fixed stream of batches and noise, and the held-out number recorded on the way.

Two arms built with the same seed start equal wherever the transfer leaves the network alone,
then see the same batches (a :class:`BatchLoader` seeded with the seed), the same label drops,
timesteps and noise (a generator seeded with the seed), the same optimizer and learning rate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import torch
from torch import nn

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.data.loader import BatchLoader
from trigen.families.base import Family
from trigen.interop.common import LoadReport
from trigen.train.optim import build_optimizer, learning_rate

EVAL_IMAGES = 256  # first test images of the held-out metric
EVAL_CHUNK = 64  # test images per forward of the held-out NLL (bounds attention memory)
EVAL_SEED = 123  # label drops, timesteps and noise of the held-out diffusion loss
CHECKPOINTS = 4  # held-out evaluations during fine-tuning (plus one before the first step)
LR = 1e-3
WARMUP_IMAGES = 1_000
GRAD_CLIP = 1.0


def first(data: ImageDataset, n: int) -> ImageDataset:
    """The first ``n`` examples of ``data`` (all of them when ``n`` ≥ its length)."""
    n = min(n, len(data))
    return ImageDataset(
        data.images[:n], data.labels[:n], data.num_classes, data.class_names, data.name
    )


def build_arm(
    cfg: TrainConfig,
    spec: DataSpec,
    seed: int,
    device: torch.device | str,
    init: Callable[[nn.Module], LoadReport] | None = None,
) -> tuple[Family, LoadReport | None]:
    """The family of ``cfg`` built under ``torch.manual_seed(seed)``; ``init`` then loads into it.

    Two arms with the same seed start equal wherever ``init`` leaves the network alone.
    """
    torch.manual_seed(seed)
    family = build_family(cfg, spec, device)
    report = init(family.net) if init is not None else None
    return family, report


def train(
    family: Family,
    data: ImageDataset,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    evaluate: Callable[[Family], float] | None = None,
) -> tuple[tuple[tuple[int, float], ...], str]:
    """``steps`` AdamW steps of ``family.loss`` on ``data``: the held-out curve and stream digest.

    Batches come from a :class:`BatchLoader` seeded with ``seed``, label drops, timesteps and
    noise from a generator seeded with ``seed``. ``evaluate`` (if given) runs before the first
    step, every ``steps / CHECKPOINTS`` steps and after the last.
    """
    net = family.net
    device = next(net.parameters()).device
    opt = build_optimizer(net, LR, 0.0)
    loader = BatchLoader(data, batch_size, seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    every = max(1, steps // CHECKPOINTS)
    digest = hashlib.sha256()
    curve = [(0, evaluate(family))] if evaluate is not None else []
    net.train()
    for step in range(1, steps + 1):
        batch = next(loader)
        digest.update(batch.images.numpy().tobytes() + batch.labels.numpy().tobytes())
        for group in opt.param_groups:
            group["lr"] = learning_rate(LR, (step - 1) * batch_size, WARMUP_IMAGES)
        batch = Batch(batch.images.to(device), batch.labels.to(device))
        loss = family.loss(batch, generator=generator).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
        opt.step()
        if evaluate is not None and (step % every == 0 or step == steps):
            curve.append((step, evaluate(family)))
    digest.update(generator.get_state().cpu().numpy().tobytes())
    return tuple(curve), digest.hexdigest()


def held_out_diffusion_loss(family: Family, test: Batch) -> float:
    """Mean diffusion loss on ``test`` with label drops, timesteps and noise fixed by EVAL_SEED."""
    device = next(family.net.parameters()).device
    generator = torch.Generator(device=device).manual_seed(EVAL_SEED)
    family.net.eval()
    with torch.no_grad():
        batch = Batch(test.images.to(device), test.labels.to(device))
        loss = family.loss(batch, generator=generator).mean().item()
    family.net.train()
    return loss


def held_out_bits_per_dim(family: Family, test: Batch) -> float:
    """Exact NLL of the 8-bit ``test`` images in bits/dim: nats / (C·H·W·ln 2)."""
    device = next(family.net.parameters()).device
    family.net.eval()
    nats = 0.0
    for start in range(0, len(test.labels), EVAL_CHUNK):
        images = test.images[start : start + EVAL_CHUNK].to(device)
        labels = test.labels[start : start + EVAL_CHUNK].to(device)
        nats += family.nll(Batch(images, labels)).sum().item()
    family.net.train()
    return nats / len(test.labels) / (test.images[0].numel() * math.log(2))
