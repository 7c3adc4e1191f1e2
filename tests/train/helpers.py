"""A tiny family and loader for exercising the training loop without the real networks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.data.loader import BatchLoader
from trigen.families.base import SampleSpec
from trigen.train.distributed import DistContext
from trigen.train.loop import Trainer


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.drop = nn.Dropout(0.2)  # exercises the global RNG state on resume
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(torch.relu(self.conv(x))))


class LossOnly:
    """``sample`` and ``nll`` of a test family that is only trained: zeros of ``image_shape``, and
    the loss itself."""

    image_shape: tuple[int, int, int]

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def sample(self, labels: Tensor, spec: SampleSpec, generator=None) -> Tensor:
        return torch.zeros(len(labels), *self.image_shape)

    def nll(self, batch: Batch, generator=None) -> Tensor:
        return self.loss(batch, generator)


@dataclass
class TinyFamily(LossOnly):
    """Denoises images with noise drawn from the loss generator: exercises every RNG path."""

    net: nn.Module
    num_classes: int = 0
    image_shape: tuple[int, int, int] = (1, 8, 8)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(batch.images.shape, generator=generator)
        pred = self.net(batch.images + 0.3 * noise)
        return (pred - batch.images).pow(2).flatten(1).mean(1)


class ListLoader:
    """Deterministic resumable loader over a fixed tensor of images."""

    def __init__(self, images: Tensor, batch_size: int, seed: int = 0) -> None:
        self.images, self.batch_size, self.seed, self.position = images, batch_size, seed, 0

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.position)
        idx = torch.randint(len(self.images), (self.batch_size,), generator=g)
        self.position += 1
        return Batch(self.images[idx], torch.zeros(self.batch_size, dtype=torch.long))

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]


def fixed_images(n: int = 32) -> Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(7)) * 2 - 1


def rank_loader(data: ImageDataset, cfg: TrainConfig, dist: DistContext) -> BatchLoader:
    """This rank's share of ``cfg.batch_size`` (a global batch) of ``data``, seeded alike on all
    ranks and in the one-process reference."""
    return BatchLoader(
        data,
        dist.local_batch(cfg.batch_size, cfg.grad_accum),
        seed=5,
        rank=dist.rank,
        world_size=dist.world_size,
    )


def train_with_resume(
    make_run: Callable[..., Trainer], run_dir: Path, dist: DistContext, resume_at: int
) -> Trainer:
    """Train ``make_run(run_dir, dist, max_steps=resume_at)``, then resume its checkpoint in a fresh
    ``make_run(run_dir, dist)`` and train that to its end; returns the second Trainer."""
    make_run(run_dir, dist, max_steps=resume_at).run()
    trainer = make_run(run_dir, dist)
    assert trainer.resume_latest()
    trainer.run()
    return trainer
