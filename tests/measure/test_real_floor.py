"""The real-vs-real floor is drawn as the samples are: a real image of each requested class."""

from __future__ import annotations

import numpy as np

from trigen.measure.evaluators import BASIS_IMAGES, Evaluators


def _evaluators(classes: np.ndarray) -> Evaluators:
    rows = BASIS_IMAGES + classes.size
    real = np.zeros((rows, 3))
    real[BASIS_IMAGES:, 0] = np.arange(classes.size)  # a pool row's index in its first feature
    labels = np.concatenate([np.full(BASIS_IMAGES, -1), classes])
    return Evaluators(None, None, None, None, None, None, real, labels)  # type: ignore[arg-type]


def test_balanced_requests_get_a_real_image_of_each_requested_class_in_order():
    pool_classes = np.array([1, 0, 0, 2, 1, 0, 2, 2, 1, 0])
    ev = _evaluators(pool_classes)
    labels = np.array([0, 1, 2, 0, 1, 2])
    rows = ev.real_features(labels)[:, 0].astype(int)
    assert list(pool_classes[rows]) == list(labels)
    assert list(rows) == [1, 0, 3, 2, 4, 6]  # the pool's first images of each class


def test_labels_outside_the_classes_get_the_pools_first_images():
    ev = _evaluators(np.array([1, 0, 0, 2, 1]))
    null = np.full(4, 10)  # an unconditional model's null label
    assert list(ev.real_features(null)[:, 0]) == [0, 1, 2, 3]


def test_a_pool_short_of_a_class_gives_no_floor():
    ev = _evaluators(np.array([1, 0, 0, 2, 1]))
    assert ev.real_features(np.array([2, 2, 0])) is None
    assert ev.real_features(np.array([0])) is None  # fewer than 2 rows: no FID
