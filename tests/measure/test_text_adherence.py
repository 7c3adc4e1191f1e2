"""Text adherence: the requests, the bins of samples, and the scores of perfect and blind
judges, overall and on held-out combinations (issue 26)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.data import load_dataset
from trigen.data.captioned import DigitAnnotations
from trigen.data.captions import CaptionBins, caption_digits, held_out_mask
from trigen.errors import ConfigError
from trigen.eval.morpho import measure_attributes
from trigen.measure.adherence import condition_adherence
from trigen.measure.text_adherence import (
    TextReference,
    caption_bins,
    text_requests,
    text_rows,
    text_scores,
)

N = 300


class Lookup:
    """Knows each real test image: a perfect judge of its caption and class, and blind to any
    other image (it scores every caption alike and names no class)."""

    def __init__(self, images: torch.Tensor, captions: list[str], labels: torch.Tensor) -> None:
        self.index = {bytes(image.numpy().tobytes()): i for i, image in enumerate(images)}
        self.captions, self.labels = captions, labels

    def _which(self, images: torch.Tensor) -> list[int]:
        return [self.index.get(bytes(image.numpy().tobytes()), -1) for image in images]

    def scores(self, images, captions, requests, others) -> np.ndarray:
        candidates = np.concatenate([np.asarray(requests)[:, None], others], axis=1)
        own = [self.captions[i] if i >= 0 else None for i in self._which(images)]
        return np.array(
            [
                [float(captions[j] == text) for j in row]
                for text, row in zip(own, candidates, strict=True)
            ]
        )

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tensor([self.labels[i] if i >= 0 else -1 for i in self._which(images)])


@pytest.fixture(scope="module")
def digits():
    """The first N MNIST test images at 28 px with bins fitted on themselves, their captions and
    a perfect judge."""
    test = load_dataset("mnist", "test")
    images, labels = test.images[:N], test.labels[:N]
    attributes = measure_attributes(images)
    edges = CaptionBins.fit(attributes)
    bins = edges.assign(attributes)
    captions = caption_digits(labels.numpy(), bins, seed=0)
    held_out = held_out_mask(labels.numpy(), bins)
    judge = Lookup(images, captions, labels)
    reference = TextReference(
        tuple(captions),
        judge,
        judge,
        DigitAnnotations(bins, held_out, edges),  # type: ignore[arg-type]
    )
    return images, labels, reference


def test_real_digits_fall_in_their_own_bins(digits):
    images, _, reference = digits
    assert reference.digits is not None
    np.testing.assert_array_equal(
        caption_bins(images, reference.digits.edges), reference.digits.bins
    )
    # at 16 px, upsampled to the captions' side: most, not all (0.79 measured on 1,000)
    small = load_dataset("mnist", "test", resolution=16).images[:N]
    both = caption_bins(small, reference.digits.edges)[:, :2] == reference.digits.bins[:, :2]
    assert both.all(axis=1).mean() > 0.7


def test_requests_are_the_first_n_then_held_out_ones_until_n(digits):
    _, _, reference = digits
    held = np.flatnonzero(reference.digits.held_out)
    n = 40
    index, first, held_out = text_requests(reference, n)
    assert np.array_equal(index[first], np.arange(n))
    assert held_out.sum() == min(n, len(held)) and np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(index[held_out], held[:n])
    plain = TextReference(reference.captions, reference.matcher)  # no digit annotations
    index, first, held_out = text_requests(plain, n)
    assert np.array_equal(index, np.arange(n)) and first.all() and not held_out.any()


def test_real_images_score_perfectly_and_rolled_requests_near_chance(digits):
    images, labels, reference = digits
    index, first, held_out = text_requests(reference, 120)
    groups = {"": first, "_held_out": held_out}
    real = images[index]
    scores = text_scores(reference, index, groups, real, real, labels[index])
    assert scores["kind"] == "text" and scores["chance_r_precision"] == 0.01
    for which in ("samples", "real"):
        for name in ("r_precision", "class_accuracy", "bin_accuracy", "slant_bin_accuracy"):
            for suffix, mask in groups.items():
                entry = scores[which][name + suffix]
                assert entry["rate"] == 1 and entry["n"] == mask.sum()
                assert entry["rate_interval"][0] < 1 == entry["rate_interval"][1]
    chance = scores["chance"]
    assert chance["class_accuracy"]["rate"] < 0.3 and chance["bin_accuracy"]["rate"] < 0.3
    assert chance["r_precision"]["rate"] < 0.3  # a rolled request can share the caption's text
    assert scores["samples"]["cosine"]["mean"] == 1 and scores["samples"]["cosine"]["n"] == 120


def test_the_rows_behind_the_scores_are_one_per_request(digits):
    images, labels, reference = digits
    index = np.arange(50)
    blank = torch.zeros_like(images[index])  # a model that draws nothing
    rows = text_rows(reference, index, blank, images[index], labels[index])
    assert set(rows) == {"samples", "real", "chance"}
    for which in rows.values():
        assert {len(v) for v in which.values()} == {50}
    assert rows["real"]["r_precision"].all() and rows["real"]["bin_accuracy"].all()
    assert not rows["samples"]["bin_accuracy"].any()  # a blank image has no bin to match


def test_a_caption_condition_needs_a_text_reference():
    test = load_dataset("mnist", "test")
    spec = ConditionSpec("text", ConditionKind.TOKENS, 8, encoder="learned", vocabulary=("<unk>",))
    with pytest.raises(ConfigError, match="text matcher"):
        condition_adherence(None, (spec,), test, None, n=4)  # type: ignore[arg-type]
