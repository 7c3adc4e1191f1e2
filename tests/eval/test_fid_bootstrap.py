"""The bias-corrected FID bootstrap: coverage of its 95 % intervals on Gaussians whose FID∞ is
known in closed form, and the guard that refuses an interval to sets too small for their
dimension."""

from __future__ import annotations

import numpy as np
import pytest

from trigen.eval.fid import frechet_distance
from trigen.eval.fid_bootstrap import MIN_ROWS_PER_DIM, FidBootstrap, corrected, ratio

DIM = 4
REPLICATIONS = 400  # nominal 95 %: a correct method lands in [0.92, 0.98] with p ≈ 0.99
RESAMPLES = 100


def _gaussian(rng: np.random.Generator, dim: int, scale: float):
    mean = scale * rng.standard_normal(dim)
    factor = rng.standard_normal((dim, dim)) / np.sqrt(dim) + np.eye(dim)
    return mean, factor @ factor.T, factor


def _world(seed: int = 0):
    rng = np.random.default_rng(seed)
    ref = _gaussian(rng, DIM, 0.0)
    gen_a = _gaussian(rng, DIM, 0.6)
    # b shares a's noise (the same seeds sampled at another NFE) with a small change of its map
    mean_b = gen_a[0] + 0.3 * rng.standard_normal(DIM)
    factor_b = gen_a[2] @ (np.eye(DIM) + 0.2 * rng.standard_normal((DIM, DIM)))
    gen_b = (mean_b, factor_b @ factor_b.T, factor_b)
    return rng, ref, gen_a, gen_b


def _fid_true(g, r) -> float:
    return frechet_distance(g[0], g[1], r[0], r[1])


@pytest.mark.parametrize(("world", "rows_per_dim"), [(0, MIN_ROWS_PER_DIM), (1, 16)])
def test_corrected_interval_covers_fid_infinity_at_the_nominal_rate(world, rows_per_dim):
    rng, ref, gen, _ = _world(world)
    truth = _fid_true(gen, ref)
    n, m = rows_per_dim * DIM, 200
    hits, plug_in_hits = 0, 0
    for rep in range(REPLICATIONS):
        reference = ref[0] + rng.standard_normal((m, DIM)) @ ref[2].T
        features = gen[0] + rng.standard_normal((n, DIM)) @ gen[2].T
        draws = FidBootstrap(reference, dims=None, resamples=RESAMPLES, seed=rep).draws(features)
        _, low, high = corrected(draws)
        hits += low <= truth <= high
        plug_in_hits += draws.value <= truth
    coverage = hits / REPLICATIONS
    assert 0.92 <= coverage <= 0.98, coverage
    # the plug-in value is biased upwards: it lies above FID∞ more often than not
    assert plug_in_hits / REPLICATIONS < 0.5


def test_ratio_interval_covers_the_true_ratio_at_least_at_the_nominal_rate():
    rng, ref, gen_a, gen_b = _world(1)
    truth = _fid_true(gen_a, ref) / _fid_true(gen_b, ref)
    n, m = MIN_ROWS_PER_DIM * DIM * 4, 200
    hits = 0
    for rep in range(REPLICATIONS):
        reference = ref[0] + rng.standard_normal((m, DIM)) @ ref[2].T
        noise = rng.standard_normal((n, DIM))  # one noise draw, two maps: paired sets
        boot = FidBootstrap(reference, dims=None, resamples=RESAMPLES, seed=rep)
        a = boot.draws(gen_a[0] + noise @ gen_a[2].T)
        b = boot.draws(gen_b[0] + noise @ gen_b[2].T)
        _, low, high = ratio(a, b)
        hits += low <= truth <= high
    coverage = hits / REPLICATIONS
    assert coverage >= 0.95, coverage  # conservative by construction (Bonferroni)


def test_every_interval_holds_its_estimate():
    rng, _, gen, _ = _world(2)
    boot = FidBootstrap(rng.standard_normal((100, DIM)), dims=None, resamples=50)
    for n in (4, 16, 64):
        estimate, low, high = corrected(boot.draws(gen[0] + rng.standard_normal((n, DIM))))
        assert low <= estimate <= high


def test_a_set_too_small_for_its_dimension_gets_no_interval():
    rng = np.random.default_rng(3)
    boot = FidBootstrap(rng.standard_normal((300, 32)), dims=8, resamples=20)
    small = boot.draws(rng.standard_normal((MIN_ROWS_PER_DIM * 8 - 1, 32)))
    big = boot.draws(rng.standard_normal((MIN_ROWS_PER_DIM * 8, 32)))
    assert not small.enough and big.enough
    assert corrected(small)[1:] == (-np.inf, np.inf)
    assert np.isfinite(corrected(big)[1:]).all()
    assert ratio(small, big)[1:] == (-np.inf, np.inf)


def test_real_images_against_their_own_distribution_correct_to_about_zero():
    """The real-vs-real floor: the plug-in is well above 0, the corrected estimate is not."""
    rng = np.random.default_rng(4)
    reference, basis_from = rng.standard_normal((1000, 64)), rng.standard_normal((1000, 64))
    boot = FidBootstrap(reference, dims=16, basis_from=basis_from, resamples=100)
    draws = boot.draws(rng.standard_normal((256, 64)))
    estimate, low, high = corrected(draws)
    assert low == 0.0 < high  # FID∞ = 0 is inside the interval
    assert estimate < draws.value / 2  # while the plug-in's floor is well above it


def test_projection_keeps_the_leading_axes_of_the_reference():
    rng = np.random.default_rng(5)
    scales = np.array([10.0, 5.0, 1.0, 0.1])
    boot = FidBootstrap(rng.standard_normal((2000, 4)) * scales, dims=2, resamples=1)
    axes = np.abs(boot.basis).argmax(axis=0)
    assert list(axes) == [0, 1]


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(3)])
def test_a_reference_of_fewer_than_two_rows_is_refused(bad):
    from trigen.errors import DataError

    with pytest.raises(DataError):
        FidBootstrap(bad)


def test_headline_fid_interval_covers_the_expected_fid_at_its_sample_count():
    """The report's FID (Inception, 160 samples in 2048 dims) is FID at N, not FID∞: its
    interval — the replicates' spread centred on the plug-in — covers E[FID_N] (n ≪ D here too,
    with the reference held fixed as the report does)."""
    from trigen.eval.fid import fid_with_interval
    from trigen.eval.stats import FeatureStats

    rng = np.random.default_rng(6)
    dim, n = 128, 24
    lam = 1.0 / np.arange(1, dim + 1)
    reference = FeatureStats(np.zeros(dim), np.diag(lam), 10**9)
    mean = 0.5 * rng.standard_normal(dim) * np.sqrt(lam)
    scale = np.sqrt(lam * np.exp(0.3 * rng.standard_normal(dim)))
    results = [
        fid_with_interval(
            mean + rng.standard_normal((n, dim)) * scale, reference, resamples=100, seed=rep
        )
        for rep in range(REPLICATIONS)
    ]
    expected = np.mean([r.value for r in results])
    coverage = np.mean([r.low <= expected <= r.high for r in results])
    assert 0.92 <= coverage <= 0.98, coverage
