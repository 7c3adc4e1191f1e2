"""The measuring instruments of a comparison, built once and shared by every family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trigen.atomic import atomic_write
from trigen.data.datasets import ImageDataset
from trigen.eval.domain import DomainClassifier
from trigen.eval.fid import fid, fid_with_interval, kid
from trigen.eval.fid_bootstrap import FidBootstrap
from trigen.eval.inception import InceptionFeatures
from trigen.eval.precision_recall import precision_recall
from trigen.eval.stats import FeatureStats
from trigen.measure.intervals import wilson_interval

MIN_DOMAIN_CLASSES = 2  # a classifier needs two classes to tell apart
FID_RESAMPLES = 100  # bootstrap replicates behind every FID interval
BASIS_IMAGES = 2000  # training images whose domain features fix the axes of FID∞ (claims)
FLOOR_IMAGES = 2000  # further training images, drawn from for the real-vs-real floor at each n


def _cached_features(
    name: str, compute: Callable[[], np.ndarray], cache_dir: Path | None
) -> np.ndarray:
    """Features (N, D) from ``cache_dir/name.npz`` or computed and cached (float32 on disk)."""
    if cache_dir is not None:
        path = Path(cache_dir) / f"{name}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                return data["features"].astype(np.float64)
    feats = compute()
    if cache_dir is not None:
        atomic_write(
            path, lambda tmp: np.savez(tmp, features=feats.astype(np.float32)), suffix=".npz"
        )
    return feats


@dataclass
class Evaluators:
    """Inception-v3 (FID/KID/P&R) and the domain classifier, with the test set's features.

    ``domain`` is None for a dataset without classes (nothing to train it on): its metrics are
    then reported as None (n/a).
    """

    inception: InceptionFeatures
    inception_ref: np.ndarray  # (N, 2048) features of the reference test images
    inception_ref_stats: FeatureStats
    domain: DomainClassifier | None
    domain_ref_stats: FeatureStats | None
    # the domain features of real training images the reference never saw: the axes of the
    # claims' FID∞ (first BASIS_IMAGES) and the real-vs-real floor (the rest)
    domain_ref: np.ndarray | None = None
    domain_real: np.ndarray | None = None
    domain_real_labels: np.ndarray | None = None  # the classes of domain_real's images
    # ``progress(done, total)`` in images during the Inception pass of :meth:`quality`
    progress: Callable[[int, int], None] | None = None

    def domain_fid(self, resamples: int, seed: int = 0) -> FidBootstrap | None:
        """The claims' domain FID∞ instrument (bias-corrected, paired bootstrap; see
        :mod:`trigen.eval.fid_bootstrap`), None without a domain classifier."""
        if self.domain_ref is None or self.domain_real is None:
            return None
        basis = self.domain_real[:BASIS_IMAGES]
        return FidBootstrap(self.domain_ref, basis_from=basis, resamples=resamples, seed=seed)

    def real_features(self, labels: np.ndarray | torch.Tensor) -> np.ndarray | None:
        """Domain features of real training images that neither the reference nor the FID∞
        axes saw, one per requested label: a perfect model's samples for ``labels`` (N,),
        scored by any instrument as the floor. Labels of the dataset's classes get an image of
        that class each (the pool's first ones, row i for labels[i]: balanced requests give a
        balanced set, as the samples are); others (the null class of an unconditional model)
        get the pool's first N images. None where the pool has too few."""
        labels = np.asarray(labels)
        pool = None if self.domain_real is None else self.domain_real[BASIS_IMAGES:]
        n = labels.size
        if pool is None or not 2 <= n <= len(pool):
            return None
        classes = (
            None if self.domain_real_labels is None else self.domain_real_labels[BASIS_IMAGES:]
        )
        if classes is None or not np.isin(labels, classes).all():
            return pool[:n]
        rows = np.empty(n, dtype=np.int64)
        for c in np.unique(labels):
            want, have = np.flatnonzero(labels == c), np.flatnonzero(classes == c)
            if want.size > have.size:
                return None
            rows[want] = have[: want.size]
        return pool[rows]

    def real_floor(self, labels: np.ndarray | torch.Tensor) -> float | None:
        """Plug-in domain FID of real training images for ``labels`` (:meth:`real_features`)
        against the reference: what a perfect model scores for these requests (the floor
        every plug-in value carries at this sample count)."""
        real = self.real_features(labels)
        if real is None or self.domain_ref_stats is None:
            return None
        return fid(FeatureStats.from_features(real), self.domain_ref_stats)

    @classmethod
    def build(
        cls,
        train: ImageDataset,
        test: ImageDataset,
        *,
        reference_images: int,
        cache_dir: Path | None,
        domain_images: int,
        device: torch.device,
        log: Callable[[str], None] = lambda _: None,
    ) -> Evaluators:
        n = min(reference_images, len(test))
        inception = InceptionFeatures(device=device)
        c, h, w = test.shape
        key = f"inception-{test.name}-test-{c}x{h}x{w}-{inception.network_id[:12]}-{n}"
        log(f"reference Inception features of {n} test images (cached after the first run)")
        ref = _cached_features(key, lambda: inception.features(test.images[:n]), cache_dir)
        ref_stats = FeatureStats.from_features(ref)
        if train.num_classes < MIN_DOMAIN_CLASSES:
            log(f"no domain classifier: {train.name} has no classes; its metrics are n/a")
            return cls(inception, ref, ref_stats, None, None)
        log("domain classifier (cached after the first run)")
        domain = DomainClassifier.train_or_load(
            train, test, cache_dir, max_images=domain_images, device=device
        )
        domain_ref = domain.features(test.images[:n])
        pool = slice(-(BASIS_IMAGES + FLOOR_IMAGES), None)
        real, real_labels = domain.features(train.images[pool]), train.labels[pool].numpy()
        ref_domain_stats = FeatureStats.from_features(domain_ref)
        return cls(
            inception, ref, ref_stats, domain, ref_domain_stats, domain_ref, real, real_labels
        )

    def quality(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float | None]:
        """Every sample-quality metric of uint8 images (N, C, H, W) generated for ``labels``."""
        feats = self.inception.features(images, self.progress)
        k = kid(feats, self.inception_ref)
        pr = precision_recall(self.inception_ref, feats)
        interval = fid_with_interval(feats, self.inception_ref_stats, resamples=FID_RESAMPLES)
        return {
            # FID at this n (its value depends on n): the plug-in with the spread of its
            # bootstrap replicates centred on it, the reference images held fixed
            "fid": interval.value,
            "fid_low": interval.low,
            "fid_high": interval.high,
            "fid_samples": len(images),
            "fid_reference_images": len(self.inception_ref),
            "kid_x1000": 1000 * k.mean,
            "kid_std_x1000": 1000 * k.std,
            "precision": pr.precision,
            "recall": pr.recall,
            **self.domain_quality(images, labels),
        }

    def domain_quality(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float | None]:
        """Fast proxies from the domain classifier: domain FID, class accuracy, confidence, and
        the number of samples they rest on."""
        if self.domain is None or self.domain_ref_stats is None:
            return {
                "samples": len(images),
                "domain_fid": None,
                "domain_fid_low": None,
                "domain_fid_high": None,
                "domain_fid_real": None,
                "cond_accuracy": None,
                "cond_accuracy_low": None,
                "cond_accuracy_high": None,
                "confidence": None,
            }
        interval = fid_with_interval(
            self.domain.features(images), self.domain_ref_stats, resamples=FID_RESAMPLES
        )
        accuracy = self.domain.conditional_accuracy(images, labels)
        hits = round(accuracy * len(images))
        low, high = wilson_interval(hits, len(images))  # 95 % over the samples
        return {
            "samples": len(images),
            "domain_fid": interval.value,
            "domain_fid_low": interval.low,
            "domain_fid_high": interval.high,
            # real training images for the same labels scored the same way: the value's floor
            "domain_fid_real": self.real_floor(labels),
            "cond_accuracy": accuracy,
            "cond_accuracy_low": low,
            "cond_accuracy_high": high,
            "confidence": self.domain.score(images),
        }
