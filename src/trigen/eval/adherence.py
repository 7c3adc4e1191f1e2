"""How closely samples follow the conditions they were asked for: attributes and maps.

The ControlNet++ protocol: measure each sample with the same deterministic extractor that made
its condition (:mod:`trigen.data.morpho`), then compare. Attributes are scored by the mean
absolute error and the Pearson correlation between requested and measured values; maps by a
per-image F1 of their pixels within a tolerance.

Every interval here is a 95 % percentile bootstrap over rows (images), ``RESAMPLES`` resamples
with a fixed seed, so the same inputs always give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage
from torch import Tensor

from trigen.errors import ConfigError

LEVEL = 0.95  # the coverage of every interval here
RESAMPLES = 1000  # bootstrap resamples per interval
SEED = 0  # the bootstrap's generator seed: fixed, so intervals are reproducible
_BLOCK_ELEMENTS = 4_000_000  # resampled row indices held at once (32 MB of int64)


def attribute_adherence(
    requested: np.ndarray,
    measured: np.ndarray,
    names: Sequence[str],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, dict[str, Any]]:
    """Per attribute: ``mae`` (mean |measured − requested|, in the attribute's unit) and ``corr``
    (Pearson), each with a percentile bootstrap ``*_interval`` (low, high) over rows; ``n`` rows
    used and ``n_nan`` rows left out because the measurement (e.g. of an empty sample) or the
    request is NaN.

    ``requested`` and ``measured`` are (N, K), columns named by ``names`` (K). Without rows,
    everything is NaN; with fewer than 2, so are the intervals and the correlation; the
    correlation is NaN too when either side does not vary.
    """
    requested = np.asarray(requested, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    if requested.ndim != 2 or requested.shape != measured.shape:
        raise ConfigError(
            f"requested and measured attributes must both be (N, K), got "
            f"{requested.shape} and {measured.shape}"
        )
    if len(names) != requested.shape[1]:
        raise ConfigError(f"{len(names)} attribute names for {requested.shape[1]} columns")
    return {
        name: _adherence(requested[:, k], measured[:, k], level, resamples, seed)
        for k, name in enumerate(names)
    }


def map_f1(
    samples: Tensor | np.ndarray, requested: Tensor | np.ndarray, tolerance: int = 1
) -> np.ndarray:
    """Per-image F1 (N,) float64 of sample maps against requested maps, both (N, 1, H, W)
    uint8 or bool, a pixel set where nonzero.

    Precision is the fraction of the sample's pixels within ``tolerance`` pixels (Chebyshev
    distance: a (2·tolerance + 1)² square) of a requested pixel; recall the fraction of requested
    pixels within ``tolerance`` of a sample pixel; F1 = 2PR / (P + R). Two empty maps agree (1);
    an empty map against a non-empty one scores 0, as do maps with no pixel in reach.
    """
    if tolerance < 0:
        raise ConfigError(f"map tolerance is a distance in pixels ≥ 0, got {tolerance}")
    sample, request = _as_maps(samples), _as_maps(requested)
    if sample.shape != request.shape:
        raise ConfigError(f"sample maps {sample.shape} and requested maps {request.shape} differ")
    precision = _fraction_near(sample, request, tolerance)
    recall = _fraction_near(request, sample, tolerance)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    both_empty = ~sample.any(axis=(1, 2)) & ~request.any(axis=(1, 2))
    return np.where(both_empty, 1.0, f1)


def mean_with_interval(
    values: Sequence[float] | np.ndarray,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float, tuple[float, float], int]:
    """(mean, (low, high), n) of the finite ``values`` (N,), with a percentile bootstrap
    interval over them; NaN where there are too few (no mean without values, no interval
    below 2)."""
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        return float("nan"), (float("nan"), float("nan")), 0
    mean = float(data.mean())
    reps = _replicates(data.size, lambda idx: data[idx].mean(axis=1), resamples, seed)
    return mean, _interval(mean, reps, level, data.size), int(data.size)


def _adherence(
    requested: np.ndarray, measured: np.ndarray, level: float, resamples: int, seed: int
) -> dict[str, Any]:
    """The :func:`attribute_adherence` entry of one attribute's columns (N,)."""
    valid = np.isfinite(requested) & np.isfinite(measured)
    r, m = requested[valid], measured[valid]
    n = int(valid.sum())
    nan = float("nan")
    if n == 0:
        mae = corr = nan
        mae_interval = corr_interval = (nan, nan)
    else:
        error = np.abs(m - r)
        mae, corr = float(error.mean()), float(_pearson(r, m))

        def statistics(idx: np.ndarray) -> np.ndarray:
            return np.stack([error[idx].mean(axis=1), _pearson(r[idx], m[idx])], axis=1)

        reps = _replicates(n, statistics, resamples, seed)  # (resamples, 2)
        mae_interval = _interval(mae, reps[:, 0], level, n)
        corr_interval = _interval(corr, reps[:, 1], level, n)
    return {
        "mae": mae,
        "mae_interval": mae_interval,
        "corr": corr,
        "corr_interval": corr_interval,
        "n": n,
        "n_nan": len(valid) - n,
    }


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlations along the last axis of x, y (..., n); NaN where either is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (xc * yc).sum(axis=-1) / np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    return np.clip(corr, -1.0, 1.0)  # rounding can step past ±1


def _replicates(
    n: int, statistic: Callable[[np.ndarray], np.ndarray], resamples: int, seed: int
) -> np.ndarray:
    """``statistic`` of ``resamples`` bootstrap resamples of n rows: it maps row indices
    (b, n) to (b, ...); drawn in blocks, so 60,000 rows never hold 60 million indices at once."""
    if resamples < 1:
        raise ConfigError(f"a bootstrap needs at least 1 resample, got {resamples}")
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    parts = []
    for start in range(0, resamples, block):
        idx = rng.integers(0, n, size=(min(block, resamples - start), n))
        parts.append(statistic(idx))
    return np.concatenate(parts)


def _interval(point: float, replicates: np.ndarray, level: float, n: int) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite replicates, widened to hold
    ``point`` (a far-tailed statistic can leave it just outside); NaN below 2 rows."""
    reps = replicates[np.isfinite(replicates)]
    if n < 2 or reps.size == 0 or not np.isfinite(point):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(reps, [tail, 100 - tail])
    return min(float(low), point), max(float(high), point)


def _as_maps(maps: Tensor | np.ndarray) -> np.ndarray:
    """Bool (N, H, W) of maps (N, 1, H, W)."""
    array = maps.detach().cpu().numpy() if isinstance(maps, Tensor) else np.asarray(maps)
    if array.ndim != 4 or array.shape[1] != 1:
        raise ConfigError(f"maps must be (N, 1, H, W), got {array.shape}")
    return array[:, 0] != 0


def _fraction_near(a: np.ndarray, b: np.ndarray, tolerance: int) -> np.ndarray:
    """Fraction (N,) of a's set pixels within Chebyshev ``tolerance`` of one of b's (N, H, W);
    NaN where a is empty."""
    side = 2 * tolerance + 1
    reach = ndimage.maximum_filter(b, size=(1, side, side), mode="constant", cval=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a & reach).sum(axis=(1, 2)) / a.sum(axis=(1, 2))
