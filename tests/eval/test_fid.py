"""FID and KID: properties of the math on small random feature sets."""

import itertools

import numpy as np
import pytest

from trigen.errors import DataError
from trigen.eval.fid import fid, frechet_distance, kid
from trigen.eval.stats import FeatureStats


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16))
    stats = FeatureStats.from_features(feats)
    assert fid(stats, stats) == pytest.approx(0.0, abs=1e-8)


def test_fid_grows_monotonically_with_added_noise():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(2000, 8))
    noise = rng.normal(size=feats.shape)
    ref = FeatureStats.from_features(feats)
    scores = [fid(ref, FeatureStats.from_features(feats + s * noise)) for s in (0, 0.1, 0.3, 1, 3)]
    assert scores[0] == pytest.approx(0.0, abs=1e-8)
    assert all(a < b for a, b in itertools.pairwise(scores))


def test_fid_of_diagonal_gaussians_matches_closed_form_under_any_rotation():
    # Commuting covariances diag(s1²), diag(s2²): tr(Σ1^½ Σ2 Σ1^½)^½ = Σ s1·s2, so
    # FID = |μ1 − μ2|² + Σ s1² + Σ s2² − 2 Σ s1·s2 = |μ1 − μ2|² + Σ (s1 − s2)².
    rng = np.random.default_rng(2)
    dim = 6
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = rng.uniform(0.1, 2, size=dim), rng.uniform(0.1, 2, size=dim)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected)
    # the same rotation of both Gaussians leaves the distance unchanged (full covariances)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    rotated = frechet_distance(q @ mu1, q @ np.diag(s1**2) @ q.T, q @ mu2, q @ np.diag(s2**2) @ q.T)
    assert rotated == pytest.approx(expected)


def test_fid_cross_term_agrees_with_eigenvalues_of_the_covariance_product():
    # tr (Σ1^½ Σ2 Σ1^½)^½ = Σ √λ(Σ1 Σ2): the product is similar to the symmetric form
    rng = np.random.default_rng(3)
    dim = 10
    sigma1, sigma2 = _random_spd(rng, dim), _random_spd(rng, dim)
    mu = np.zeros(dim)
    cross = np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).real).sum()
    expected = np.trace(sigma1) + np.trace(sigma2) - 2 * cross
    assert frechet_distance(mu, sigma1, mu, sigma2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu, sigma2, mu, sigma1) == pytest.approx(expected, rel=1e-9)


def test_fid_refuses_statistics_of_different_widths():
    a = FeatureStats.from_features(np.random.default_rng(0).normal(size=(10, 4)))
    b = FeatureStats.from_features(np.random.default_rng(0).normal(size=(10, 5)))
    with pytest.raises(DataError):
        fid(a, b)


def test_kid_is_unbiased_on_equal_distributions():
    # The average of many independent estimates is ≈ 0; the biased estimate (diagonals kept)
    # would sit at a clearly positive value for such small sets.
    rng = np.random.default_rng(4)
    values = [
        kid(rng.normal(size=(20, 4)), rng.normal(size=(20, 4)), subsets=1, seed=i).mean
        for i in range(300)
    ]
    mean, stderr = np.mean(values), np.std(values) / np.sqrt(len(values))
    assert abs(mean) < 3 * stderr


def test_kid_is_near_zero_for_equal_and_positive_for_shifted_distributions():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same = kid(a, b, subsets=20, subset_size=200)
    shifted = kid(a, b + 0.5, subsets=20, subset_size=200)
    assert same.subset_size == 200 and same.subsets == 20
    assert abs(same.mean) < 0.1 * shifted.mean
    assert shifted.mean > 3 * shifted.std > 0


def test_kid_caps_the_subset_size_at_the_smaller_set():
    rng = np.random.default_rng(6)
    result = kid(rng.normal(size=(30, 3)), rng.normal(size=(50, 3)), subsets=2)
    assert result.subset_size == 30


def test_fid_with_interval_matches_the_plain_fid_and_brackets_it():
    from trigen.eval.fid import fid_with_interval

    rng = np.random.default_rng(0)
    ref = FeatureStats.from_features(rng.normal(size=(400, 16)))
    for n in (10, 64):  # n ≤ D uses the Gram matrix, n > D the D × D product
        gen = rng.normal(0.3, 1.2, size=(n, 16))
        r = fid_with_interval(gen, ref, resamples=50)
        assert r.value == pytest.approx(fid(FeatureStats.from_features(gen), ref), rel=1e-6)
        assert r.low <= r.value <= r.high and r.samples == n


def test_fid_interval_narrows_with_more_samples():
    from trigen.eval.fid import fid_with_interval

    rng = np.random.default_rng(1)
    ref = FeatureStats.from_features(rng.normal(size=(2000, 8)))
    few = fid_with_interval(rng.normal(0.5, 1, size=(40, 8)), ref, resamples=100)
    many = fid_with_interval(rng.normal(0.5, 1, size=(1000, 8)), ref, resamples=100)
    assert many.high - many.low < (few.high - few.low) / 2


def test_centred_interval_keeps_the_spread_and_drops_the_bootstrap_bias():
    from trigen.eval.fid import centred_interval

    reps = np.random.default_rng(0).normal(30.0, 2.0, 5000)  # biased 10 above the plug-in 20
    low, high = centred_interval(20.0, reps)
    assert low < 20.0 < high
    assert high - low == pytest.approx(2 * 1.96 * 2.0, rel=0.05)
    assert centred_interval(1.0, reps)[0] == 0.0  # clipped at 0
