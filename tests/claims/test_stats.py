"""Intervals: coverage on known distributions, exact slopes, paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from trigen.errors import ConfigError
from trigen.measure import stats


def test_interval_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = stats.bootstrap("m", rng.normal(size=20))
    large = stats.bootstrap("m", rng.normal(size=2000))
    assert large.high - large.low < (small.high - small.low) / 3


def test_seeds_interval_uses_student_t():
    e = stats.seeds_interval("loss", [1.0, 2.0, 3.0])
    assert e.value == pytest.approx(2.0)
    assert e.high - e.value == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
    assert (e.n, e.n_of) == (3, "seeds")
    one = stats.seeds_interval("loss", [1.0])  # one seed: a value, no interval, never "exact"
    assert one.value == 1.0 and not one.determined and "seed" in one.method


def test_loglog_slope_recovers_a_power_law():
    x = np.array([16, 32, 64, 128, 256])
    exact = stats.loglog_slope("s", x, 3 * x**2.0)
    assert exact.value == pytest.approx(2.0) and exact.high - exact.low < 1e-9
    noisy = stats.loglog_slope("s", x, 3 * x**1.5 * np.array([1.1, 0.9, 1.05, 0.95, 1.0]))
    assert noisy.low < 1.5 < noisy.high


def test_a_line_through_two_points_has_no_interval():
    two = stats.loglog_slope("s", [16, 32], [1.0, 2.0])
    assert two.value == pytest.approx(1.0) and not two.determined
    assert (two.n, two.n_of) == (2, "points") and "exact" not in two.method


def test_paired_difference_sees_a_shift_hidden_by_the_spread():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 10, size=200)
    e = stats.paired_difference("d", base + 0.5, base)
    assert e.low > 0.4 and e.high < 0.6


def test_ratio_interval_brackets_the_ratio():
    a = stats.Estimate("a", 2.0, 1.5, 2.5)
    b = stats.Estimate("b", 4.0, 3.0, 5.0)
    r = stats.ratio("a/b", a, b)
    assert r.low == pytest.approx(0.3) and r.high == pytest.approx(2.5 / 3) and r.value == 0.5


def test_round_ratio_is_the_median_of_the_rounds_with_its_stated_coverage():
    e = stats.round_ratio("a ÷ b", [3.0, 4.0, 10.0])
    assert (e.value, e.low, e.high, e.n, e.unit, e.n_of) == (4.0, 3.0, 10.0, 3, "×", "rounds")
    assert e.level == pytest.approx(0.75)  # min–max of 3 covers the median 1 − 2^(1−3)
    six = stats.round_ratio("a ÷ b", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert six.level == pytest.approx(1 - 2**-5) and (six.low, six.high) == (1.0, 6.0)
    many = stats.round_ratio("a ÷ b", list(range(1, 21)))
    assert many.level >= 0.95 and many.low > 1 and many.high < 20  # inner order statistics
    assert stats.rounds_for(0.95) == 6
    with pytest.raises(ConfigError):
        stats.round_ratio("a ÷ b", [1.0, 0.0])
    with pytest.raises(ConfigError):
        stats.round_ratio("a ÷ b", [])


def test_seeds_interval_of_an_undefined_seed_is_undetermined():
    e = stats.seeds_interval("ratio", [1.2, float("nan"), 1.1])
    assert not e.determined and e.n == 3 and "undefined on 1 of 3 seeds" in e.method
