"""The mirror set: exact TL ↔ BR point mirror, independent other quadrants, meaningful classes."""

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.synthetic import MIRROR_CLASSES, MIRROR_SIZES, SHAPE_KINDS, mirror_images
from trigen.errors import ConfigError


def _quadrants(images: torch.Tensor):
    half = images.shape[-1] // 2
    x = images.double() / 255
    return (
        x[..., :half, :half],
        x[..., :half, half:],
        x[..., half:, :half],
        x[..., half:, half:],
    )


@pytest.fixture(scope="module")
def test_split():
    return load_dataset("mirror", "test")


def test_the_test_split_is_a_labelled_uint8_set(test_split):
    assert len(test_split) == MIRROR_SIZES["test"] and test_split.shape == (1, 32, 32)
    assert test_split.images.dtype == torch.uint8 and test_split.num_classes == 10
    assert test_split.class_names == list(MIRROR_CLASSES)
    assert set(test_split.labels.tolist()) == set(range(10))
    assert test_split[0].images.min() >= -1 and test_split[0].images.max() <= 1


def test_bottom_right_is_the_exact_point_mirror_of_top_left(test_split):
    top_left, _, _, bottom_right = _quadrants(test_split.images)
    assert torch.equal(bottom_right, top_left.flip(-1, -2))
    assert (top_left.flatten(1).amax(1) > 0).all()  # every quadrant holds a visible shape


def test_other_quadrant_pairs_are_not_mirrors(test_split):
    _, top_right, bottom_left, _ = _quadrants(test_split.images)
    assert (top_right.flip(-1, -2) - bottom_left).abs().flatten(1).mean(1).min() > 0.01


def test_the_class_is_the_top_left_content_and_nothing_else(test_split):
    top_left, top_right, _, _ = _quadrants(test_split.images)
    two = test_split.labels >= len(SHAPE_KINDS)  # classes 5..9 draw two shapes
    ink_tl, ink_tr = top_left.mean((1, 2, 3)), top_right.mean((1, 2, 3))
    assert ink_tl[two].mean() > 1.5 * ink_tl[~two].mean()
    assert float(ink_tr[two].mean()) == pytest.approx(float(ink_tr[~two].mean()), rel=0.1)


def test_same_seed_same_images_and_the_splits_differ(test_split):
    images, labels = mirror_images(50, seed=7)
    again, labels_again = mirror_images(50, seed=7)
    assert torch.equal(images, again) and torch.equal(labels, labels_again)
    other, _ = mirror_images(50, seed=8)
    assert not torch.equal(images, other)
    assert not torch.equal(test_split.images[:50], mirror_images(50, seed=0)[0])


def test_other_resolutions_render_the_same_scenes_exactly_mirrored():
    native, labels = mirror_images(200, seed=3)
    large, large_labels = mirror_images(200, seed=3, side=64)
    assert torch.equal(labels, large_labels)
    top_left, _, _, bottom_right = _quadrants(large)
    assert torch.equal(bottom_right, top_left.flip(-1, -2))
    pooled = torch.nn.functional.avg_pool2d(large.double() / 255, 2)
    assert (pooled - native.double() / 255).abs().mean() < 0.03


def test_channels_and_resolution_go_through_load_dataset():
    rgb = load_dataset("mirror", "test", resolution=16, channels=3)
    assert rgb.shape == (3, 16, 16)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])


@pytest.mark.parametrize("side", [31, 0])
def test_odd_or_empty_sides_are_refused(side):
    with pytest.raises(ConfigError):
        mirror_images(4, seed=0, side=side)


def test_generation_is_a_pure_function_of_the_seed_not_of_global_state():
    np.random.seed(1)
    torch.manual_seed(1)
    first, _ = mirror_images(10, seed=5)
    np.random.seed(2)
    torch.manual_seed(2)
    assert torch.equal(first, mirror_images(10, seed=5)[0])
