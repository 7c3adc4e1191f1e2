"""Bits per dimension: the one place nats per image become bits/dim, and a test-split evaluator.

Families report negative log-likelihoods in nats per image (exact for autoregressive models, the
ELBO upper bound for diffusion); bits/dim = nats / (C · H · W · ln 2). A model that is uniform over
the 256 levels of every sub-pixel scores exactly 8.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from trigen.batch import Batch
from trigen.data.datasets import ImageDataset
from trigen.errors import DataError
from trigen.families.base import Family

LN2 = math.log(2.0)
DEFAULT_BATCH = 256

Progress = Callable[[int, int], None]
Nats = TypeVar("Nats")  # float, Tensor or ndarray


def bits_per_dim(nats: Nats, image_shape: tuple[int, int, int]) -> Nats:
    """Bits per sub-pixel of ``nats`` per image (float, Tensor or ndarray) for (C, H, W) images."""
    channels, height, width = image_shape
    return nats / (channels * height * width * LN2)


@dataclass(frozen=True)
class NllResult:
    """Mean negative log-likelihood over ``num_images`` test images, per image and per dimension."""

    nats_per_image: float
    bits_per_dim: float
    num_images: int
    per_image_nats: tuple[float, ...] = ()  # in dataset order, for intervals and paired tests


def evaluate_nll(
    family: Family,
    dataset: ImageDataset,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_images: int | None = None,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> NllResult:
    """Mean ``family.nll`` over the first ``max_images`` (default all) images of ``dataset``.

    Batches go to the device of the family's network; ``generator`` drives any randomness of the
    estimate (the diffusion ELBO samples timesteps and noise).
    """
    if dataset.shape != tuple(family.image_shape):
        raise DataError(
            f"dataset images are {dataset.shape} but the model makes {tuple(family.image_shape)}; "
            "load the dataset at the model's resolution and channels"
        )
    total = len(dataset) if max_images is None else min(max_images, len(dataset))
    if total < 1:
        raise DataError("bits/dim needs at least one test image")
    device = next(family.net.parameters()).device
    per_image: list[float] = []
    with torch.no_grad():
        for start in range(0, total, batch_size):
            part = dataset[slice(start, min(start + batch_size, total))]
            images, labels = part.images, part.labels
            nats = family.nll(Batch(images.to(device), labels.to(device)), generator)  # (b,)
            per_image.extend(nats.double().cpu().tolist())
            if progress is not None:
                progress(min(start + batch_size, total), total)
    mean = math.fsum(per_image) / total
    bpd = float(bits_per_dim(mean, family.image_shape))
    return NllResult(mean, bpd, total, tuple(per_image))
