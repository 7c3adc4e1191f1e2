"""Feature statistics (μ, Σ) of an image set and their ``.npz`` cache.

Reference statistics are expensive (Inception runs ~10 img/s on a small CPU), so they are cached
once per (dataset, split, resolution, feature network file hash, number of images). Every key field
is also stored inside the file and checked on load, so a renamed file cannot be mistaken for
another set's statistics.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from torch import Tensor

from trigen.errors import DataError

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with image counts."""

HASH_PREFIX = 16  # hex digits of the network hash in a cache file name (the full hash is inside)


class FeatureNetwork(Protocol):
    """Anything that maps images to features: the Inception wrapper or the domain classifier.

    ``network_id`` identifies the weights (a file hash) and keys cached statistics.
    """

    network_id: str

    def features(self, images: Tensor, progress: Progress | None = None) -> np.ndarray:
        """Features (N, D) float64 of uint8 or [-1, 1] float images (N, C, H, W)."""
        ...


@dataclass(frozen=True)
class FeatureStats:
    """Mean ``mu`` (D,) and covariance ``sigma`` (D, D), float64, of ``num`` feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    num: int

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStats:
        """Statistics of features (N, D), N ≥ 2; Σ is the unbiased (N − 1) sample covariance."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] < 2:
            raise DataError(f"need features (N ≥ 2, D) for statistics, got {features.shape}")
        mu = features.mean(axis=0)
        centred = features - mu
        sigma = centred.T @ centred / (features.shape[0] - 1)
        return cls(mu, sigma, features.shape[0])


@dataclass(frozen=True)
class StatsKey:
    """What identifies cached statistics: where the images came from and what measured them."""

    dataset: str
    split: str
    resolution: int
    network_sha256: str
    num_images: int

    def filename(self) -> str:
        """The cache file name, e.g. ``mnist-test-28px-n10000-7ff4a85c3a6378f0.npz``."""
        net = self.network_sha256[:HASH_PREFIX]
        return f"{self.dataset}-{self.split}-{self.resolution}px-n{self.num_images}-{net}.npz"


def save_stats(stats: FeatureStats, key: StatsKey, cache_dir: Path) -> Path:
    """Write ``stats`` under ``key`` in ``cache_dir`` atomically (temp file, then rename)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key.filename()
    fields = {name: np.asarray(value) for name, value in asdict(key).items()}
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".tmp-{final.stem}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, mu=stats.mu, sigma=stats.sigma, num=np.asarray(stats.num), **fields)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)  # readers see the old file or the whole new one, never a part
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def load_stats(key: StatsKey, cache_dir: Path) -> FeatureStats | None:
    """The statistics cached under ``key`` in ``cache_dir``, or None if there are none.

    A file that exists but is unreadable or belongs to another key raises DataError.
    """
    path = Path(cache_dir) / key.filename()
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {name: data[name].item() for name in asdict(key)}
            mu, sigma, num = data["mu"], data["sigma"], int(data["num"])
    except (OSError, ValueError, KeyError) as err:
        raise DataError(
            f"cached statistics {path} are unreadable ({err}); delete the file"
        ) from None
    if stored != asdict(key) or num != key.num_images:
        raise DataError(
            f"cached statistics {path} belong to {stored}, not {asdict(key)}; delete it"
        )
    if mu.shape != (sigma.shape[0],) or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DataError(f"cached statistics {path} have bad shapes; delete the file")
    return FeatureStats(mu.astype(np.float64), sigma.astype(np.float64), num)


def reference_stats(
    images: Tensor,
    network: FeatureNetwork,
    *,
    dataset: str,
    split: str,
    cache_dir: Path | None,
    num_images: int | None = None,
    progress: Progress | None = None,
) -> FeatureStats:
    """Statistics of the first ``num_images`` (default all) of ``images`` (N, C, H, W), cached.

    ``dataset``/``split`` name where the images came from (they key the cache, with the images'
    resolution and ``network.network_id``); ``cache_dir=None`` disables the cache.
    """
    total = images.shape[0]
    num = total if num_images is None else num_images
    if not 2 <= num <= total:
        raise DataError(f"asked for statistics of {num} images but {dataset}/{split} has {total}")
    key = StatsKey(dataset, split, int(images.shape[-1]), network.network_id, num)
    if cache_dir is not None and (cached := load_stats(key, cache_dir)) is not None:
        return cached
    stats = FeatureStats.from_features(network.features(images[:num], progress))
    if cache_dir is not None:
        save_stats(stats, key, cache_dir)
    return stats
