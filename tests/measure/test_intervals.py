"""The Wilson interval of a proportion holds the proportion, stays in [0, 1] and narrows with n."""

from __future__ import annotations

import pytest

from trigen.errors import ConfigError
from trigen.measure.intervals import wilson_interval


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
def test_wilson_interval_holds_the_proportion_inside_zero_one(n):
    widths = []
    for k in range(n + 1):
        low, high = wilson_interval(k, n)
        assert 0.0 <= low <= k / n <= high <= 1.0
        assert high - low > 0  # never empty, even at 0 or n successes
        mirror_low, mirror_high = wilson_interval(n - k, n)
        assert low == pytest.approx(1 - mirror_high) and high == pytest.approx(1 - mirror_low)
        widths.append(high - low)
    assert max(widths) == pytest.approx(widths[n // 2], rel=0.05)  # widest near one half


def test_wilson_interval_narrows_with_more_samples_and_refuses_nonsense():
    small, large = wilson_interval(39, 64), wilson_interval(390, 640)
    assert large[1] - large[0] < small[1] - small[0]
    # a known value: 0.609 on 64 samples (the demo's AR at cfg 3) is [0.487, 0.719]
    assert small == pytest.approx((0.487, 0.719), abs=1e-3)
    for bad in ((-1, 5), (6, 5), (0, 0)):
        with pytest.raises(ConfigError):
            wilson_interval(*bad)
