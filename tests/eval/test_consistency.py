"""Mirror consistency: 1 on real data, about 0 once the TL ↔ BR link is broken."""

import numpy as np
import pytest
import torch

from trigen.data.synthetic import mirror_images
from trigen.errors import DataError
from trigen.eval.consistency import mirror_consistency


@pytest.fixture(scope="module")
def data():
    return mirror_images(1000, seed=1)


def _swap_bottom_right(images, order):
    out = images.clone()
    out[..., 16:, 16:] = images[order][..., 16:, 16:]
    return out


def test_real_mirror_data_is_perfectly_consistent(data):
    images, _ = data
    result = mirror_consistency(images)
    assert result.score == 1.0 and np.all(result.distances == 0)
    assert np.all(result.scores == 1.0) and result.baseline > 0.1
    assert result.distances.shape == result.baseline_distances.shape == (1000,)


def test_breaking_the_link_scores_about_zero_and_half_broken_about_half(data):
    images, _ = data
    shuffled = _swap_bottom_right(images, torch.randperm(1000))
    assert abs(mirror_consistency(shuffled).score) < 0.05
    half = torch.cat([images[:500], shuffled[500:]])
    assert mirror_consistency(half).score == pytest.approx(0.5, abs=0.05)


def test_per_image_scores_average_to_the_score(data):
    images = data[0][:100]
    result = mirror_consistency(
        torch.cat([images[:50], _swap_bottom_right(images[50:], 49 - torch.arange(50))])
    )
    assert result.scores.mean() == pytest.approx(result.score)
    assert result.scores == pytest.approx(1 - result.distances / result.baseline)


def test_uint8_and_model_range_floats_agree(data):
    images, _ = data
    noisy = (images[:200].float() + torch.randn(200, 1, 32, 32) * 20).clamp(0, 255).round()
    from_uint8 = mirror_consistency(noisy.to(torch.uint8))
    from_float = mirror_consistency(noisy / 127.5 - 1)
    assert from_float.distances == pytest.approx(from_uint8.distances)
    assert from_float.baseline_distances == pytest.approx(from_uint8.baseline_distances)


def test_labels_pair_the_baseline_within_a_class(data):
    """Right kind of shape in the wrong place: about 0 with labels, above 0 without them."""
    images, labels = data
    order = torch.arange(1000)
    generator = torch.Generator().manual_seed(0)
    for label in range(10):
        members = torch.nonzero(labels == label).flatten()
        order[members] = members[torch.randperm(members.numel(), generator=generator)]
    wrong_place = _swap_bottom_right(images, order)
    assert abs(mirror_consistency(wrong_place, labels).score) < 0.02
    assert mirror_consistency(wrong_place).score > 0.03


def test_the_seed_fixes_the_baseline(data):
    images = _swap_bottom_right(data[0][:100], torch.randperm(100))
    first, again = mirror_consistency(images, seed=3), mirror_consistency(images, seed=3)
    assert np.array_equal(first.baseline_distances, again.baseline_distances)


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (torch.zeros(4, 1, 7, 8), None, "even sides"),
        (torch.zeros(1, 1, 8, 8), None, "at least 2"),
        (torch.zeros(3, 1, 8, 8), torch.tensor([0, 0, 1]), "class 1 has one image"),
        (torch.zeros(3, 1, 8, 8), torch.tensor([0, 0]), "labels must be"),
    ],
)
def test_bad_inputs_are_refused(images, labels, match):
    with pytest.raises(DataError, match=match):
        mirror_consistency(images, labels)


def test_an_undefined_score_is_nan():
    assert np.isnan(mirror_consistency(torch.zeros(3, 1, 4, 4)).score)
