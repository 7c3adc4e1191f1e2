"""The C10 statistic: the smallest NFE within 10 % of the largest NFE's quality."""

from __future__ import annotations

import numpy as np

from trigen.claims.quality import NfePoint, smallest_nfe_within, steps_for_nfe


def point(nfe: int, fid: float, spread: float = 0.5, seed: int = 0) -> NfePoint:
    reps = fid + np.random.default_rng(seed).normal(0, spread, 200)
    return NfePoint("unet", "ddim", nfe, nfe, 0.01 * nfe, fid, reps)


def test_smallest_nfe_is_the_first_point_within_ten_percent():
    pts = [point(5, 30.0), point(10, 12.0), point(20, 10.5), point(250, 10.0)]
    e = smallest_nfe_within(pts)
    assert e.value == 20  # 12.0 > 11.0, 10.5 ≤ 11.0
    assert e.low <= 20 <= e.high and e.unit == "NFE"


def test_noisy_quality_widens_the_interval_over_the_boundary_points():
    pts = [point(5, 30.0, 0.1), point(10, 11.0, 3.0, 1), point(20, 10.5, 3.0, 2), point(250, 10.0)]
    e = smallest_nfe_within(pts)
    assert e.low <= 10 and e.high >= 20  # replicates land on either side


def test_order_of_points_does_not_matter_and_heun_steps_map_to_nfe():
    pts = [point(250, 10.0), point(5, 10.5), point(10, 10.2)]
    assert smallest_nfe_within(pts).value == 5
    assert steps_for_nfe("heun", 10) == 5 and steps_for_nfe("ddim", 10) == 10
    assert steps_for_nfe("heun", 250) == 125  # NFE 2·125 − 1 = 249
