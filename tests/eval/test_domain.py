"""The domain classifier: the score's range, training, caching and tamper checks."""

import json

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.datasets import ImageDataset
from trigen.errors import CheckpointError, DataError
from trigen.eval.domain import FEATURE_DIM, DomainClassifier, inception_score


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", "train"), load_dataset("mnist", "test")


def _subset(data: ImageDataset, n: int) -> ImageDataset:
    return ImageDataset(data.images[:n], data.labels[:n], 10, data.class_names, data.name)


def test_the_score_runs_from_one_to_the_number_of_classes():
    k = 5
    assert inception_score(torch.full((20, k), 1 / k)) == pytest.approx(1.0)
    assert inception_score(torch.eye(k)[torch.arange(20) % k]) == pytest.approx(k, rel=1e-6)
    assert inception_score(torch.eye(k)[torch.zeros(20, dtype=torch.long)]) == pytest.approx(1.0)


def test_a_short_training_is_well_above_chance_and_is_cached(mnist, tmp_path):
    train, test = _subset(mnist[0], 2000), _subset(mnist[1], 500)
    # bounded by images seen (2 epochs), not time, so a busy machine gives the same network
    clf = DomainClassifier.train_or_load(train, test, tmp_path, max_epochs=2)
    assert clf.info["test_accuracy"] > 0.5  # chance is 0.1; ~0.8 measured
    assert clf.accuracy(test) == pytest.approx(clf.info["test_accuracy"])
    feats = clf.features(test.images[:7])
    assert feats.shape == (7, FEATURE_DIM) and feats.dtype == np.float64
    assert clf.predict(test.images[:7]).shape == (7,)
    # a second call with the same budget finds the cache: no training
    again = DomainClassifier.train_or_load(train, test, tmp_path, max_images=4000)
    assert again.network_id == clf.network_id and len(list(tmp_path.glob("*.json"))) == 1
    assert again.accuracy(test) == pytest.approx(clf.accuracy(test))
    # float images in [-1, 1] are judged like their uint8 levels
    np.testing.assert_array_equal(clf.features(test[0:7].images), feats)


def test_other_training_data_gets_its_own_classifier(mnist, tmp_path):
    small = _subset(mnist[0], 200)
    test = _subset(mnist[1], 50)
    DomainClassifier.train_or_load(small, test, tmp_path, max_epochs=1)
    other = _subset(mnist[0], 201)
    DomainClassifier.train_or_load(other, test, tmp_path, max_epochs=1)
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_the_image_budget_decides_the_network_and_its_cache(mnist, tmp_path):
    """The same data and image budget give the same network with or without a cache; another
    budget, or a wall-clock cap, is cached apart instead of being taken for it."""
    train, test = _subset(mnist[0], 200), _subset(mnist[1], 50)
    cached = DomainClassifier.train_or_load(train, test, tmp_path, max_images=128)
    fresh = DomainClassifier.train_or_load(train, test, None, max_images=128)
    assert fresh.network_id == cached.network_id and cached.info["images_seen"] == 128
    other = DomainClassifier.train_or_load(train, test, tmp_path, max_images=64)
    capped = DomainClassifier.train_or_load(
        train, test, tmp_path, max_images=128, seconds_budget=60
    )
    assert len({cached.network_id, other.network_id}) == 2
    assert len(list(tmp_path.glob("*.json"))) == 3 and capped.info["seconds_budget"] == 60


def test_altered_weights_are_refused(mnist, tmp_path):
    train, test = _subset(mnist[0], 200), _subset(mnist[1], 50)
    DomainClassifier.train_or_load(train, test, tmp_path, max_epochs=1)
    meta = next(tmp_path.glob("*.json"))
    info = json.loads(meta.read_text())
    info["weights_sha256"] = "0" * 64
    meta.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="delete"):
        DomainClassifier.train_or_load(train, test, tmp_path, max_epochs=1)


def test_images_of_another_resolution_are_refused(mnist):
    train, test = _subset(mnist[0], 200), _subset(mnist[1], 50)
    clf = DomainClassifier.train_or_load(train, test, None, max_epochs=1)
    with pytest.raises(DataError, match="resolution"):
        clf.predict(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))


@pytest.mark.slow
def test_a_longer_training_separates_digits_and_real_from_noise(mnist):
    train, test = _subset(mnist[0], 20000), _subset(mnist[1], 2000)
    clf = DomainClassifier.train_or_load(train, test, None, max_epochs=1)
    assert clf.info["test_accuracy"] > 0.93
    assert clf.conditional_accuracy(test.images, test.labels) == clf.info["test_accuracy"]
    assert clf.score(test.images) > 5  # confident and spread over the 10 digits
    noise = torch.randint(0, 256, (500, 1, 28, 28), dtype=torch.uint8)
    assert clf.score(noise) < clf.score(test.images)
