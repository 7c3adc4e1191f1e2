"""Improved precision and recall (k-NN manifolds) on small random feature sets."""

import numpy as np
import pytest
import torch

from trigen.errors import DataError
from trigen.eval.precision_recall import knn_radii, precision_recall


def test_identical_sets_have_precision_and_recall_one():
    feats = np.random.default_rng(0).normal(size=(300, 8))
    result = precision_recall(feats, feats.copy(), batch=64)
    assert result.precision == 1.0 and result.recall == 1.0 and result.k == 3


def test_a_shifted_set_loses_precision_and_recall():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8))
    same = precision_recall(real, rng.normal(size=(300, 8)))
    shifted = precision_recall(real, rng.normal(size=(300, 8)) + 3.0)
    assert shifted.precision < same.precision / 2
    assert shifted.recall < same.recall / 2


def test_mode_collapse_keeps_precision_but_loses_recall():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 4))
    collapsed = real[np.linalg.norm(real, axis=1) < 1.0]  # real samples from one small region
    result = precision_recall(real, collapsed)
    assert result.precision == 1.0
    assert result.recall < 0.5


def test_knn_radius_is_the_distance_to_the_kth_other_point():
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]], dtype=torch.float64)
    radii = knn_radii(points, k=2, batch=2)
    assert radii.tolist() == [3.0, 2.0, 3.0, 4.0, 7.0]


def test_too_few_samples_for_k_are_refused():
    with pytest.raises(DataError):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
