"""A comparison on a dataset without classes (e.g. openmoji): class metrics are n/a, not a crash."""

import numpy as np
import torch

from trigen.data.datasets import ImageDataset
from trigen.measure import evaluators

FEATURES = 8


class FakeInception:
    """Stands in for Inception-v3: features from pixel statistics, no weights to load."""

    network_id = "fake" * 4

    def __init__(self, device=None) -> None:
        self.device = device

    def features(self, images: torch.Tensor, progress=None) -> np.ndarray:  # FeatureNetwork
        flat = images.reshape(len(images), -1).double()
        rng = np.random.default_rng(0)
        projection = rng.standard_normal((flat.shape[1], FEATURES))
        return flat.numpy() @ projection / 255.0


def _unconditional(n: int, seed: int) -> ImageDataset:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=gen)
    return ImageDataset(images, torch.zeros(n, dtype=torch.int64), 0, [], "openmoji")


def test_no_domain_classifier_without_classes(monkeypatch):
    monkeypatch.setattr(evaluators, "InceptionFeatures", FakeInception)
    train, test = _unconditional(40, 0), _unconditional(30, 1)
    ev = evaluators.Evaluators.build(
        train,
        test,
        reference_images=30,
        cache_dir=None,
        domain_images=64,
        device=torch.device("cpu"),
    )
    assert ev.domain is None
    samples = _unconditional(20, 2)
    quality = ev.quality(samples.images, samples.labels)
    assert quality["domain_fid"] is None and quality["cond_accuracy"] is None
    assert quality["confidence"] is None
    assert quality["fid"] > 0 and quality["fid_samples"] == 20  # Inception metrics still measured
