"""Intervals for the claims: Wilson for proportions, bootstrap over samples, Student t over seeds,
log-log slopes, order statistics for medians of timed rounds, bias-corrected FID.

Every function returns an :class:`~trigen.measure.estimate.Estimate` whose ``level`` is the
coverage its method gives (95 % unless asked for another, e.g. a Bonferroni share) and whose
``method`` names the method and ``n_of`` what ``n`` counts. Each method's coverage is measured by
simulation in ``tests/claims/test_coverage.py``. Where no interval can be made honestly (one
seed, a line through two points, too few samples for a FID) the estimate is undetermined: its
interval is (−∞, ∞) and no rule can decide on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as sps

from trigen.errors import ConfigError
from trigen.eval import fid_bootstrap
from trigen.eval.fid_bootstrap import FidDraws
from trigen.measure.estimate import Estimate
from trigen.measure.intervals import LEVEL, wilson_interval

BOOTSTRAP_RESAMPLES = 1000
MIN_FIT_POINTS = 3  # a line through two points fits exactly: its residuals say nothing
MIN_SEEDS = 2


def t_quantile(dof: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ConfigError(f"a t interval needs at least 1 degree of freedom, got {dof}")
    return float(sps.t.ppf((1 + level) / 2, dof))


def proportion(name: str, correct: Sequence[float] | np.ndarray, level: float = LEVEL) -> Estimate:
    """The fraction of 1s in a 0/1 array (N,) with its Wilson interval."""
    hits = np.asarray(correct, dtype=np.float64)
    k, n = round(float(hits.sum())), int(hits.size)
    low, high = wilson_interval(k, n, level)
    return Estimate(name, k / n, low, high, "", n, f"Wilson {level:.1%}", "samples", level)


def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates (NaNs dropped)."""
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(reps, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap(
    name: str,
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    unit: str = "",
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Estimate:
    """``statistic`` (a mean by default) of per-sample ``values`` (N,) with a percentile
    interval; for a mean it covers at the nominal rate from N ≈ 30 on (coverage test)."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        raise ConfigError(f"a bootstrap of {name} needs at least 2 samples, got {len(data)}")
    idx = bootstrap_indices(len(data), resamples, seed)
    reps = np.array([statistic(data[i]) for i in idx])
    low, high = percentile_interval(reps, level)
    value = float(statistic(data))
    method = f"percentile bootstrap {level:.1%} ({resamples} resamples)"
    low, high = min(low, value), max(high, value)  # equal but for a far-tailed statistic
    return Estimate(name, value, low, high, unit, len(data), method, "samples", level)


def paired_difference(
    name: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    unit: str = "",
    seed: int = 0,
    level: float = LEVEL,
) -> Estimate:
    """Mean of a − b over paired samples (same images, noise or labels), bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"paired samples of {name} differ in shape: {a.shape} vs {b.shape}")
    return bootstrap(name, a - b, unit=unit, seed=seed, level=level)


def seeds_interval(
    name: str, values: Sequence[float], *, unit: str = "", level: float = LEVEL
) -> Estimate:
    """Mean over training seeds with a Student-t interval (n − 1 degrees of freedom);
    undetermined with one seed (a single training run says nothing about the next) and where a
    seed's value is undefined (NaN or infinite: a ratio whose denominator was 0 on that seed)."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        bad = int(np.sum(~np.isfinite(v)))
        why = f"undefined on {bad} of {v.size} seeds: no mean, no interval"
        return Estimate.undetermined(name, math.nan, why, unit, int(v.size), "seeds")
    if v.size < MIN_SEEDS:
        why = f"{v.size} seed: no interval (needs ≥ {MIN_SEEDS})"
        return Estimate.undetermined(name, float(v.mean()), why, unit, int(v.size), "seeds")
    half = t_quantile(v.size - 1, level) * v.std(ddof=1) / np.sqrt(v.size)
    mean = float(v.mean())
    method = f"t {level:.1%} over seeds"
    low, high = mean - half, mean + half
    return Estimate(name, mean, low, high, unit, int(v.size), method, "seeds", level)


def paired_seed_differences(
    name: str, a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], level: float = LEVEL
) -> Estimate:
    """Mean of a − b per seed (each seed's samples paired by label and noise), t over seeds."""
    diffs = [float(np.mean(np.subtract(x, y))) for x, y in zip(a, b, strict=True)]
    return seeds_interval(name, diffs, level=level)


def loglog_slope(name: str, x: Sequence[float], y: Sequence[float]) -> Estimate:
    """Least-squares slope of log y on log x with its t interval (n − 2 degrees of freedom);
    undetermined below ``MIN_FIT_POINTS`` points (two points fit any line exactly)."""
    lx, ly = np.log(np.asarray(x, np.float64)), np.log(np.asarray(y, np.float64))
    n = lx.size
    if n < 2 or np.ptp(lx) == 0:
        raise ConfigError(f"a slope of {name} needs two distinct x values, got {n} points")
    xc = lx - lx.mean()
    slope = float(xc @ (ly - ly.mean()) / (xc @ xc))
    if n < MIN_FIT_POINTS:
        why = f"{n} points: no interval (a fit needs ≥ {MIN_FIT_POINTS})"
        return Estimate.undetermined(name, slope, why, "", n, "points")
    residuals = ly - ly.mean() - slope * xc
    se = float(np.sqrt(residuals @ residuals / (n - 2) / (xc @ xc)))
    half = t_quantile(n - 2) * se
    low, high = slope - half, slope + half
    return Estimate(name, slope, low, high, "", n, "OLS t 95 % (log-log)", "points")


def median_order_interval(values: Sequence[float], level: float = LEVEL):
    """(median, low, high, coverage): the order statistics x₍ₖ₎, x₍ₙ₊₁₋ₖ₎ with the largest k
    whose distribution-free coverage of the median, 1 − 2·P(Bin(n, ½) < k), is ≥ ``level``.

    With fewer than 6 values no pair reaches 95 %: the min–max is returned with its own coverage
    (1 − 2^(1−n): 93.75 % at 5, 75 % at 3), and the estimate carries that level.
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = v.size
    k_best, coverage = 1, 1 - 2 * float(sps.binom.cdf(0, n, 0.5))
    for k in range(2, n // 2 + 1):
        cov = 1 - 2 * float(sps.binom.cdf(k - 1, n, 0.5))
        if cov < level:
            break
        k_best, coverage = k, cov
    return float(np.median(v)), float(v[k_best - 1]), float(v[n - k_best]), coverage


def round_median(
    name: str, values: Sequence[float], unit: str = "s", level: float = LEVEL
) -> Estimate:
    """The median of one value per interleaved round with its order-statistic interval, whose
    coverage is stored as the estimate's level."""
    if not values or min(values) <= 0:
        raise ConfigError(f"{name} needs positive per-round values, got {list(values)}")
    median, low, high, coverage = median_order_interval(values, level)
    method = f"median of {len(values)} interleaved rounds, order-statistic {coverage:.1%}"
    return Estimate(name, median, low, high, unit, len(values), method, "rounds", coverage)


def round_ratio(name: str, ratios: Sequence[float], level: float = LEVEL) -> Estimate:
    """A ratio measured once per interleaved round (:func:`trigen.eval.cost.measure_interleaved`):
    the median of the rounds with its order-statistic interval. Timed back to back, both sides of
    each ratio saw the same host, so this is the ratio to quote for two timings."""
    return round_median(name, ratios, "×", level)


def rounds_for(level: float = LEVEL) -> int:
    """The fewest rounds whose min–max covers the median with probability ≥ ``level``."""
    n = 2
    while 1 - 2.0 ** (1 - n) < level:
        n += 1
    return n


def ratio(name: str, a: Estimate, b: Estimate) -> Estimate:
    """a ÷ b with the interval from the ends of both intervals (conservative, positive values)."""
    if min(a.low, b.low) <= 0:
        raise ConfigError(f"ratio {name} needs positive intervals, got {a} and {b}")
    return Estimate(
        name,
        a.value / b.value,
        a.low / b.high,
        a.high / b.low,
        "×",
        min(a.n, b.n),
        f"ratio of intervals ({a.method}; {b.method})",
        a.n_of,
        min(a.level, b.level),
    )


def fid(name: str, draws: FidDraws, level: float = LEVEL) -> Estimate:
    """FID∞ of one generated set with its bias-corrected bootstrap interval
    (:func:`trigen.eval.fid_bootstrap.corrected`); undetermined when the set is too small."""
    value, low, high = fid_bootstrap.corrected(draws, level)
    method = fid_bootstrap.method(draws, level)
    if not draws.enough:
        need = fid_bootstrap.MIN_ROWS_PER_DIM * draws.dims
        method = f"{draws.samples} samples < {need} ({draws.dims} dims): no interval"
    return Estimate(name, value, low, high, "", draws.samples, method, "samples", level)


def fid_ratio(name: str, a: FidDraws, b: FidDraws, level: float = LEVEL) -> Estimate:
    """FID∞(a) ÷ FID∞(b), interval covering with probability ≥ ``level`` (Bonferroni)."""
    value, low, high = fid_bootstrap.ratio(a, b, level)
    method = fid_bootstrap.ratio_method(a, b, level)
    if not (a.enough and b.enough):
        method = f"< {fid_bootstrap.MIN_ROWS_PER_DIM} samples per dimension: no interval"
    n = min(a.samples, b.samples)
    return Estimate(name, value, low, high, "×", n, method, "samples", level)


def bonferroni(tests: int, level: float = LEVEL) -> float:
    """The level each of ``tests`` intervals needs so that all hold together with ``level``."""
    return 1 - (1 - level) / max(tests, 1)
