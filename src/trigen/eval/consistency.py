"""Mirror consistency: does a generated image keep the mirror set's one long-range dependency?

In the mirror set (``trigen.data.synthetic``) the bottom-right quadrant is the top-left quadrant
rotated by 180°. Per image the distance d is the mean |TL − rot180(BR)| in [0, 1] pixel units:
0 on real data. The baseline b pairs image i's TL with another image's rot180(BR), the distance
of a model that draws plausible quadrants but ignores the link. The score 1 − d / mean(b) is 1
for exact mirrors and about 0 without any long-range dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from trigen.data.transforms import PIXEL_MAX
from trigen.errors import ConfigError, DataError

DEFAULT_PAIRINGS = 8
"""Random pairings averaged per image for the baseline, to make it less noisy."""


@dataclass(frozen=True)
class ConsistencyResult:
    """Per-image values (N,) float64, kept so that callers can bootstrap.

    ``distances``: mean |TL − rot180(BR)| per image, in [0, 1] pixel units. ``baseline_distances``:
    the same between image i's TL and other images' rot180(BR), averaged over the pairings.
    ``scores``: 1 − distances / mean(baseline_distances); their mean is :attr:`score`.
    """

    distances: np.ndarray
    baseline_distances: np.ndarray
    scores: np.ndarray

    @property
    def distance(self) -> float:
        return float(self.distances.mean())

    @property
    def baseline(self) -> float:
        return float(self.baseline_distances.mean())

    @property
    def score(self) -> float:
        """1 − distance / baseline: 1 perfectly consistent, about 0 no long-range dependency."""
        return float(self.scores.mean())


def _unit_range(images: Tensor | np.ndarray) -> np.ndarray:
    """uint8 0..255 or float [-1, 1] (N, C, H, W) → float64 [0, 1]."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"images must be (N, C, H, W), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float64) / PIXEL_MAX
    return (images.astype(np.float64) + 1) / 2


def _partners(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each image a random other image of the same label: a random cycle within each label."""
    partner = np.empty(labels.shape[0], dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if members.size < 2:
            raise DataError(
                f"class {label} has one image: the baseline pairs images of the same class, "
                "so give each class at least 2 (or leave labels unset)"
            )
        partner[members] = np.roll(members, -1)
    return partner


def mirror_consistency(
    images: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | None = None,
    *,
    pairings: int = DEFAULT_PAIRINGS,
    seed: int = 0,
) -> ConsistencyResult:
    """TL ↔ rot180(BR) consistency of images (N, C, H, W), uint8 0..255 or float in [-1, 1].

    H and W must be even (four equal quadrants); channels are averaged with the pixels. With
    ``labels`` (N,) the baseline pairs images of the same class only, so a class-conditional model
    that draws the right kind of shape in the wrong place still scores about 0; each class then
    needs at least 2 images. The baseline averages ``pairings`` random pairings (drawn from
    ``seed``) per image. If every baseline distance is 0 (all BR quadrants equal the TL
    quadrants they are paired with), the scores are NaN: there is nothing to tell apart.
    """
    x = _unit_range(images)
    n, _, height, width = x.shape
    if n < 2 or height % 2 or width % 2:
        raise DataError(f"need at least 2 images with even sides, got shape {x.shape}")
    if pairings < 1:
        raise ConfigError(f"pairings must be ≥ 1, got {pairings}")
    if labels is None:
        labels = np.zeros(n, dtype=np.int64)
    elif isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise DataError(f"labels must be ({n},), got shape {labels.shape}")

    half_h, half_w = height // 2, width // 2
    top_left = x[:, :, :half_h, :half_w]
    mirrored = x[:, :, half_h:, half_w:][:, :, ::-1, ::-1]  # rot180(BR), aligned with TL
    distances = np.abs(top_left - mirrored).mean(axis=(1, 2, 3))
    rng = np.random.default_rng(seed)
    baseline = np.zeros(n)
    for _ in range(pairings):
        partner = _partners(labels, rng)
        baseline += np.abs(top_left - mirrored[partner]).mean(axis=(1, 2, 3))
    baseline /= pairings
    mean_baseline = baseline.mean()
    scores = 1 - distances / mean_baseline if mean_baseline > 0 else np.full(n, np.nan)
    return ConsistencyResult(distances, baseline, scores)
