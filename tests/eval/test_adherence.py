"""Attribute adherence (MAE, correlation) and map F1, with their bootstrap intervals."""

import numpy as np
import pytest
import torch

from trigen.errors import ConfigError
from trigen.eval.adherence import attribute_adherence, map_f1, mean_with_interval

NAMES = ("area", "slant")


def _requests(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(50, 150, n), rng.normal(0.1, 0.25, n)], axis=1)


def _contains(interval: tuple[float, float], value: float) -> bool:
    low, high = interval
    return low <= value <= high


def test_measuring_what_was_requested_scores_perfectly():
    requested = _requests()
    scores = attribute_adherence(requested, requested.copy(), NAMES)
    assert set(scores) == set(NAMES)
    for score in scores.values():
        assert score["mae"] == 0 and score["mae_interval"] == (0, 0)
        assert score["corr"] == pytest.approx(1.0)
        assert _contains(score["corr_interval"], score["corr"])
        assert score["n"] == 200 and score["n_nan"] == 0


def test_noisy_measurements_have_an_error_inside_its_interval():
    requested = _requests()
    noise = np.random.default_rng(1).normal(0, [5.0, 0.05], requested.shape)
    scores = attribute_adherence(requested, requested + noise, NAMES)
    area = scores["area"]
    assert area["mae"] == pytest.approx(5.0 * np.sqrt(2 / np.pi), rel=0.2)  # E|N(0, σ²)|
    assert _contains(area["mae_interval"], area["mae"]) and area["mae_interval"][0] > 0
    assert 0 < area["corr_interval"][0] <= area["corr"] <= area["corr_interval"][1] < 1
    again = attribute_adherence(requested, requested + noise, NAMES)
    assert again == scores  # a fixed seed: the same intervals every time


def test_unmeasurable_rows_are_left_out_and_counted():
    requested = _requests(50)
    measured = requested.copy()
    measured[:7, 1] = np.nan  # e.g. empty samples have no slant
    scores = attribute_adherence(requested, measured, NAMES)
    assert (scores["slant"]["n"], scores["slant"]["n_nan"]) == (43, 7)
    assert (scores["area"]["n"], scores["area"]["n_nan"]) == (50, 0)
    assert scores["slant"]["mae"] == 0


def test_no_measurable_row_gives_nan_not_an_error():
    requested = _requests(5)
    score = attribute_adherence(requested, np.full_like(requested, np.nan), NAMES)["area"]
    assert np.isnan(score["mae"]) and np.isnan(score["corr"]) and score["n_nan"] == 5


def test_mismatched_shapes_and_names_are_refused():
    with pytest.raises(ConfigError):
        attribute_adherence(_requests(5), _requests(6), NAMES)
    with pytest.raises(ConfigError):
        attribute_adherence(_requests(5), _requests(5), ("area",))


def _map() -> np.ndarray:
    """A (1, 1, 16, 16) uint8 map: an L-shaped stroke away from the borders."""
    grid = np.zeros((1, 1, 16, 16), np.uint8)
    grid[0, 0, 3:12, 5] = 255
    grid[0, 0, 11, 5:11] = 255
    return grid


def test_a_map_matches_itself_and_a_shifted_copy_within_the_tolerance():
    requested = _map()
    shifted = np.roll(requested, 1, axis=3)
    assert map_f1(requested, requested).tolist() == [1.0]
    assert map_f1(shifted, requested, tolerance=1).tolist() == [1.0]
    assert 0 < map_f1(shifted, requested, tolerance=0)[0] < 1
    assert map_f1(torch.from_numpy(shifted) > 0, torch.from_numpy(requested)).tolist() == [1.0]


def test_empty_maps_score_zero_against_a_stroke_and_one_against_each_other():
    requested = np.concatenate([_map(), np.zeros_like(_map())])
    empty = np.zeros_like(requested)
    np.testing.assert_array_equal(map_f1(empty, requested), [0.0, 1.0])
    np.testing.assert_array_equal(map_f1(requested[::-1], requested), [0.0, 0.0])


def test_maps_of_other_shapes_or_negative_tolerance_are_refused():
    with pytest.raises(ConfigError):
        map_f1(_map(), _map()[:, :, :8])
    with pytest.raises(ConfigError):
        map_f1(_map(), _map(), tolerance=-1)


def test_mean_with_interval_holds_the_mean_and_counts_finite_values():
    values = np.random.default_rng(0).uniform(0, 1, 100)
    mean, interval, n = mean_with_interval(np.append(values, np.nan))
    assert mean == pytest.approx(values.mean()) and n == 100
    assert _contains(interval, mean) and interval[1] - interval[0] < 0.2
    assert mean_with_interval(np.full(10, 0.5)) == (0.5, (0.5, 0.5), 10)
    single = mean_with_interval([0.7])
    assert single[0] == 0.7 and np.isnan(single[1]).all() and single[2] == 1
