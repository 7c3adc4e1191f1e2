"""Intervals for the claims: bootstrap over samples, Student t over seeds, log-log slopes.

Every function returns an :class:`~trigen.claims.ledger.Estimate` at 95 % unless told otherwise;
the method string says which interval it is, so a reader can judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trigen.claims.ledger import Estimate
from trigen.errors import ConfigError

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 1000
# two-sided 97.5 % quantiles of Student's t for 1 … 30 degrees of freedom (then the normal 1.96)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z975 = 1.96


def t_quantile(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (two-sided 95 %)."""
    if dof < 1:
        raise ConfigError(f"a t interval needs at least 1 degree of freedom, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else Z975


def wilson_interval(successes: int, n: int, z: float = Z975) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of the proportion ``successes / n``: unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 or n successes."""
    if n < 1 or not 0 <= successes <= n:
        raise ConfigError(f"a proportion needs 0 ≤ successes ≤ n and n ≥ 1, got {successes}/{n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


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
) -> Estimate:
    """``statistic`` of per-sample ``values`` (N,) or (N, K) rows with a percentile interval."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        raise ConfigError(f"a bootstrap of {name} needs at least 2 samples, got {len(data)}")
    idx = bootstrap_indices(len(data), resamples, seed)
    reps = np.array([statistic(data[i]) for i in idx])
    low, high = percentile_interval(reps)
    method = f"bootstrap {LEVEL:.0%} ({resamples} resamples)"
    return Estimate(name, float(statistic(data)), low, high, unit, len(data), method)


def paired_difference(
    name: str, a: Sequence[float], b: Sequence[float], *, unit: str = "", seed: int = 0
) -> Estimate:
    """Mean of a − b over paired samples (same images, noise or seeds), bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"paired samples of {name} differ in shape: {a.shape} vs {b.shape}")
    return bootstrap(name, a - b, unit=unit, seed=seed)


def seeds_interval(name: str, values: Sequence[float], *, unit: str = "") -> Estimate:
    """Mean over seeds with a Student-t 95 % interval (n − 1 degrees of freedom)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        raise ConfigError(f"a t interval of {name} needs at least 2 seeds, got {v.size}")
    half = t_quantile(v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    mean = float(v.mean())
    return Estimate(name, mean, mean - half, mean + half, unit, int(v.size), "t 95 % over seeds")


def loglog_slope(name: str, x: Sequence[float], y: Sequence[float]) -> Estimate:
    """Least-squares slope of log y on log x with its t interval (n − 2 degrees of freedom).

    With two points the slope is exact and so is its 'interval'; with one it is undefined.
    """
    lx, ly = np.log(np.asarray(x, np.float64)), np.log(np.asarray(y, np.float64))
    n = lx.size
    if n < 2 or np.ptp(lx) == 0:
        raise ConfigError(f"a slope of {name} needs two distinct x values, got {n} points")
    xc = lx - lx.mean()
    slope = float(xc @ (ly - ly.mean()) / (xc @ xc))
    if n == 2:
        return Estimate(name, slope, slope, slope, "", n, "exact (2 points)")
    residuals = ly - ly.mean() - slope * xc
    se = float(np.sqrt(residuals @ residuals / (n - 2) / (xc @ xc)))
    half = t_quantile(n - 2) * se
    return Estimate(name, slope, slope - half, slope + half, "", n, "OLS t 95 % (log-log)")


def round_ratio(name: str, ratios: Sequence[float]) -> Estimate:
    """A ratio measured once per interleaved round (:func:`trigen.eval.cost.measure_interleaved`):
    the median with the min–max of the rounds. Timed back to back, both sides of each ratio saw
    the same host, so this is the ratio to quote for two timings; :func:`ratio` of two timings
    taken apart carries any change of host speed between them."""
    if not ratios or min(ratios) <= 0:
        raise ConfigError(f"ratio {name} needs positive per-round ratios, got {list(ratios)}")
    return Estimate(
        name,
        float(np.median(ratios)),
        float(min(ratios)),
        float(max(ratios)),
        "×",
        len(ratios),
        f"median, min–max of {len(ratios)} interleaved rounds",
    )


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
    )
