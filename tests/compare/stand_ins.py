"""Stand-ins the comparison tests share: measuring instruments without weights to load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.data.idx import IDX_SPLIT_FILES, write_idx
from trigen.measure import evaluators
from trigen.train.flops import training_flops_per_image


class BandFeatures:
    """Stands in for Inception-v3 (no weights to load): the mean of each row of pixels."""

    network_id = "row-means-of-pixels"

    def __init__(self, device=None) -> None:
        self.device = device

    def features(self, images: torch.Tensor, progress=None) -> np.ndarray:
        return images.double().mean(dim=(1, 3)).numpy()


def write_idx_split(root: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """``split``'s IDX image and label files under ``root``: uint8 images (N, H, W), labels (N,)."""
    image_stem, label_stem = IDX_SPLIT_FILES[split]
    write_idx(root / image_stem, images)
    write_idx(root / label_stem, labels.astype(np.uint8))


def idx_comparison_data(
    tmp_path: Path, monkeypatch, write_split: Callable[[Path, str, int, int], None]
) -> Path:
    """What a smoke-sized comparison runs on offline: an IDX dataset of 60 training and 24 test
    images (``write_split(root, split, n, seed)``) in ``tmp_path/data``, returned; a fresh
    trigen cache under ``tmp_path``; and :class:`BandFeatures` standing in for Inception."""
    data = tmp_path / "data"
    data.mkdir()
    write_split(data, "train", 60, 0)
    write_split(data, "test", 24, 1)
    monkeypatch.setenv("TRIGEN_CACHE", str(tmp_path / "trigen-cache"))
    monkeypatch.setattr(evaluators, "InceptionFeatures", BandFeatures)
    return data


CLASSES = 10


class NoiseLoader:
    """Batches of noise images and class labels: what a step costs does not depend on pixels."""

    def __init__(self, shape: tuple[int, int, int], batch: int) -> None:
        self.shape, self.batch, self.position = shape, batch, 0

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        self.position += 1
        g = torch.Generator().manual_seed(self.position)
        images = torch.rand(self.batch, *self.shape, generator=g) * 2 - 1
        return Batch(images, torch.randint(CLASSES, (self.batch,), generator=g))

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]


def step_flops(cfg) -> int:
    """One optimizer step of ``cfg``'s family at its batch, in training FLOPs."""
    shape = (1, cfg.resolution, cfg.resolution)
    torch.manual_seed(0)
    family = build_family(cfg, DataSpec(shape, CLASSES), torch.device("cpu"))
    per_image = training_flops_per_image(family, NoiseLoader(shape, 1), torch.device("cpu"))
    return cfg.batch_size * per_image
