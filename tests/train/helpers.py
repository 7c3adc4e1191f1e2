"""A tiny family and loader for exercising the training loop without the real networks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.families.base import SampleSpec


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.drop = nn.Dropout(0.2)  # exercises the global RNG state on resume
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(torch.relu(self.conv(x))))


@dataclass
class TinyFamily:
    """Denoises images with noise drawn from the loss generator: exercises every RNG path."""

    net: nn.Module
    num_classes: int = 0
    image_shape: tuple[int, int, int] = (1, 8, 8)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(batch.images.shape, generator=generator)
        pred = self.net(batch.images + 0.3 * noise)
        return (pred - batch.images).pow(2).flatten(1).mean(1)

    def sample(self, labels: Tensor, spec: SampleSpec, generator=None) -> Tensor:
        return torch.zeros(len(labels), *self.image_shape)

    def nll(self, batch: Batch, generator=None) -> Tensor:
        return self.loss(batch, generator)


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
