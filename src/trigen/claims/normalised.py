"""Condition adherence relative to the real-data ceiling, and its bootstrap over requests.

For one condition kind, a mechanism's **normalised adherence** is (sample − chance) ÷
(ceiling − chance): 0 for samples that follow the condition no better than another request's
(the requests rolled by one), 1 for samples that follow it as closely as the real images do.
The score of a kind is

- for rows of **scores** (a map's per-request F1, a caption's R-precision hit: ``{"real",
  "samples", "chance"}``) the means of those rows;
- for rows of **pairs** (a vector: ``{"requested", "real", "samples"}``, measured values beside
  the requested ones) the Pearson correlation of requested and measured values of each field,
  the chance pairing each sample with the previous request, averaged over the fields after
  normalising each.

Samples come per training seed (``samples[mechanism][seed]``), every seed asked for the same
requests. The interval is a percentile bootstrap over requests, **pooled over seeds**: a
replicate draws requests with replacement and takes their rows from every seed, every mechanism
and the ceiling (a request is the unit: the rows of the seeds that share it are not independent,
and mechanisms stay paired), then scores the rows of all seeds together. It covers the sampling
noise of these trained models, not the spread of training itself. Coverage of a difference of
two mechanisms at the claims preset's 128 requests, 2 seeds: ``tests/claims/test_coverage.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from trigen.claims.ledger import Estimate
from trigen.measure.stats import percentile_interval

RESAMPLES = 2000  # enough replicates for a Bonferroni share's far tails (≈ 8 beyond 99.6 %)
SEED = 0  # fixed: the decider, and `trigen recheck`, draw the same replicates

Scores = dict[str, np.ndarray]  # mechanism → normalised score, (1 + resamples,): point first


def normalised_scores(rows: Mapping[str, Any], *, resamples: int = RESAMPLES) -> Scores:
    """Each mechanism's normalised adherence on one kind's ``rows`` (JSON; None = not
    measurable): the point estimate, then ``resamples`` bootstrap replicates."""
    return {
        m: _normalise(*parts).mean(axis=-1) if parts[0].ndim > 1 else _normalise(*parts)
        for m, parts in _components(rows, resamples).items()
    }


def raw_scores(rows: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The point scores behind the normalised ones, every seed pooled: per mechanism
    ``{"samples", "chance", "ceiling"}``: mean F1 or hit rate, or one correlation per field."""
    names = ("samples", "chance", "ceiling")
    return {
        m: {k: np.round(v[0], 4).tolist() for k, v in zip(names, parts, strict=True)}
        for m, parts in _components(rows, 0).items()
    }


Parts = tuple[np.ndarray, np.ndarray, np.ndarray]  # sample, chance, ceiling: (1 + B,) or (…, K)


def _components(rows: Mapping[str, Any], resamples: int) -> dict[str, Parts]:
    """Per mechanism, the sample, chance and ceiling scores of the point and each replicate
    (the same requests drawn for every seed)."""
    samples = {m: _array(per_seed) for m, per_seed in rows["samples"].items()}
    seeds, n = next(iter(samples.values())).shape[:2]
    drawn = np.random.default_rng(SEED).integers(0, n, size=(resamples, n))
    idx = np.broadcast_to(np.concatenate([np.arange(n)[None], drawn]), (seeds, resamples + 1, n))
    rows_of = Draws(lambda v: v[np.arange(seeds)[:, None, None], idx], lambda v: v[idx])
    if "requested" in rows:
        return _pairs(rows, samples, rows_of)
    real = rows_of.shared(_array(rows["real"])).mean(axis=(0, 2))
    return {
        m: (
            rows_of.seeded(values).mean(axis=(0, 2)),
            rows_of.seeded(_array(rows["chance"][m])).mean(axis=(0, 2)),
            real,
        )
        for m, values in samples.items()
    }


class Draws(NamedTuple):
    """The drawn rows (S, 1 + B, n, …) of each seed: from per-seed rows (S, n, …) or from rows
    every seed shares (n, …)."""

    seeded: Callable[[np.ndarray], np.ndarray]
    shared: Callable[[np.ndarray], np.ndarray]


def _pairs(
    rows: Mapping[str, Any], samples: Mapping[str, np.ndarray], rows_of: Draws
) -> dict[str, Parts]:
    """Correlations (1 + B, K) of requested and measured vector fields."""
    requested = _array(rows["requested"])  # (n, K)
    asked = _pooled(rows_of.shared(requested))
    rolled = _pooled(rows_of.shared(np.roll(requested, 1, axis=0)))  # each with the previous
    real = pearson(asked, _pooled(rows_of.shared(_array(rows["real"]))))
    out = {}
    for m, values in samples.items():
        measured = _pooled(rows_of.seeded(values))
        out[m] = pearson(asked, measured), pearson(rolled, measured), real
    return out


def _pooled(rows: np.ndarray) -> np.ndarray:
    """(S, 1 + B, n, K) → (1 + B, K, S·n): every seed's rows together, per field."""
    s, b, n, k = rows.shape
    return rows.transpose(1, 3, 0, 2).reshape(b, k, s * n)


def _normalise(sample: np.ndarray, chance: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
    """(sample − chance) / (ceiling − chance); NaN where the ceiling is not above chance."""
    gap = ceiling - chance
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gap > 0, (sample - chance) / gap, np.nan)


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis of ``x``, ``y`` (…, N), over the rows where
    both are finite; NaN where fewer than 2 are or either side is constant."""
    ok = np.isfinite(x) & np.isfinite(y)
    count = ok.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(ok, x - np.where(ok, x, 0).sum(-1, keepdims=True) / count, 0)
        yc = np.where(ok, y - np.where(ok, y, 0).sum(-1, keepdims=True) / count, 0)
        r = (xc * yc).sum(-1) / np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    return np.where(count[..., 0] >= 2, np.clip(r, -1.0, 1.0), np.nan)


def estimate(name: str, scores: np.ndarray, n: int, level: float) -> Estimate:
    """The point ``scores[0]`` with the percentile interval of the replicates ``scores[1:]``;
    no interval when the point is not a number."""
    value = float(scores[0])
    if not np.isfinite(value):
        return Estimate.undetermined(name, value, "ceiling not above chance", n=n)
    low, high = percentile_interval(scores[1:], level)
    if not (np.isfinite(low) and np.isfinite(high)):
        return Estimate.undetermined(name, value, "no finite bootstrap replicate", n=n)
    method = (
        f"percentile bootstrap {level:.1%} over requests, pooled over seeds "
        f"({len(scores) - 1} resamples)"
    )
    return Estimate(name, value, min(low, value), max(high, value), "", n, method, "samples", level)


def _array(rows: Any) -> np.ndarray:
    """JSON rows (None where nothing was measurable) as float64 with NaN."""
    return np.asarray(rows, dtype=np.float64)
