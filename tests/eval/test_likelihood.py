"""Bits/dim: the conversion and the test-split evaluator, on a uniform stand-in model."""

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from trigen.data.datasets import ImageDataset
from trigen.errors import DataError
from trigen.eval.likelihood import bits_per_dim, evaluate_nll

SHAPE = (3, 4, 5)


@dataclass
class _UniformFamily:
    """Every sub-pixel uniform over 256 levels: C·H·W·ln 256 nats per image."""

    net: nn.Module
    num_classes: int = 2
    image_shape: tuple[int, int, int] = SHAPE

    def __post_init__(self) -> None:
        self.seen = 0

    def nll(self, batch, generator=None):
        self.seen += batch.images.shape[0]
        c, h, w = batch.images.shape[1:]
        return torch.full((batch.images.shape[0],), c * h * w * math.log(256))


def _dataset(n: int, shape=SHAPE) -> ImageDataset:
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8)
    return ImageDataset(images, torch.randint(0, 2, (n,)), 2, ["a", "b"], "toy")


def test_a_uniform_model_scores_eight_bits_per_dim():
    nats = math.prod(SHAPE) * math.log(256)
    assert bits_per_dim(nats, SHAPE) == pytest.approx(8.0)
    as_tensor = bits_per_dim(torch.full((4,), nats), SHAPE)
    torch.testing.assert_close(as_tensor, torch.full((4,), 8.0))


def test_evaluate_nll_covers_every_image_once_in_batches():
    family = _UniformFamily(nn.Linear(1, 1))
    result = evaluate_nll(family, _dataset(23), batch_size=5)
    assert family.seen == 23 and result.num_images == 23
    assert result.bits_per_dim == pytest.approx(8.0)
    assert result.nats_per_image == pytest.approx(math.prod(SHAPE) * math.log(256))


def test_evaluate_nll_stops_at_max_images():
    family = _UniformFamily(nn.Linear(1, 1))
    assert evaluate_nll(family, _dataset(23), batch_size=5, max_images=7).num_images == 7
    assert family.seen == 7


def test_evaluate_nll_refuses_images_of_another_shape():
    with pytest.raises(DataError, match="resolution"):
        evaluate_nll(_UniformFamily(nn.Linear(1, 1)), _dataset(4, (3, 8, 8)))
