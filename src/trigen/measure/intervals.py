"""Intervals the measuring instruments report beside their values (the claims build their
estimates on these too, in :mod:`trigen.measure.stats`)."""

from __future__ import annotations

from scipy import stats as sps

from trigen.errors import ConfigError

LEVEL = 0.95  # the coverage of every interval unless another is asked for


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``: unlike the normal
    approximation it stays inside [0, 1], is not empty at 0 or n successes, and holds p̂."""
    if n < 1 or not 0 <= successes <= n:
        raise ConfigError(f"a proportion needs 0 ≤ successes ≤ n and n ≥ 1, got {successes}/{n}")
    z = float(sps.norm.ppf((1 + level) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))
