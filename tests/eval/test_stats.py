"""Feature statistics and their .npz cache."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from trigen.errors import DataError
from trigen.eval.stats import FeatureStats, StatsKey, load_stats, reference_stats, save_stats

KEY = StatsKey("mnist", "test", 28, "ab" * 32, 100)


def _stats(seed: int = 0, n: int = 100, dim: int = 5) -> FeatureStats:
    return FeatureStats.from_features(np.random.default_rng(seed).normal(size=(n, dim)))


def test_statistics_are_mean_and_unbiased_covariance():
    feats = np.random.default_rng(0).normal(size=(50, 3))
    stats = FeatureStats.from_features(feats)
    np.testing.assert_allclose(stats.mu, feats.mean(axis=0))
    np.testing.assert_allclose(stats.sigma, np.cov(feats, rowvar=False))
    assert stats.num == 50


def test_cache_round_trip_is_exact_and_leaves_no_temp_files(tmp_path):
    stats = _stats()
    path = save_stats(stats, KEY, tmp_path)
    loaded = load_stats(KEY, tmp_path)
    np.testing.assert_array_equal(loaded.mu, stats.mu)
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    assert loaded.num == stats.num
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "change",
    [
        {"dataset": "fashion_mnist"},
        {"split": "train"},
        {"resolution": 32},
        {"network_sha256": "cd" * 32},
        {"num_images": 1000},
    ],
)
def test_every_key_field_separates_cache_entries(tmp_path, change):
    save_stats(_stats(), KEY, tmp_path)
    other = replace(KEY, **change)
    assert other.filename() != KEY.filename()
    assert load_stats(other, tmp_path) is None


def test_a_renamed_cache_file_is_refused(tmp_path):
    path = save_stats(_stats(), KEY, tmp_path)
    other = replace(KEY, split="train")
    path.rename(tmp_path / other.filename())
    with pytest.raises(DataError, match="delete"):
        load_stats(other, tmp_path)


def test_a_corrupt_cache_file_is_refused(tmp_path):
    (tmp_path / KEY.filename()).write_bytes(b"not an npz file")
    with pytest.raises(DataError, match="delete"):
        load_stats(KEY, tmp_path)


class _CountingNetwork:
    """A stand-in feature network: flattened pixels as features, counting its calls."""

    network_id = "ef" * 32

    def __init__(self) -> None:
        self.calls = 0

    def features(self, images, progress=None):
        self.calls += 1
        return images.flatten(1).double().numpy()


def test_reference_stats_are_computed_once_then_read_from_the_cache(tmp_path):
    images = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8)
    net = _CountingNetwork()
    first = reference_stats(images, net, dataset="toy", split="test", cache_dir=tmp_path)
    second = reference_stats(images, net, dataset="toy", split="test", cache_dir=tmp_path)
    assert net.calls == 1
    np.testing.assert_array_equal(first.sigma, second.sigma)
    fewer = reference_stats(
        images, net, dataset="toy", split="test", cache_dir=tmp_path, num_images=10
    )
    assert net.calls == 2 and fewer.num == 10
    with pytest.raises(DataError):
        reference_stats(images, net, dataset="toy", split="test", cache_dir=None, num_images=21)
