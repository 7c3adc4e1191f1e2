"""MNIST captions: bins from the training split, wording, determinism and held-out combinations."""

import itertools
import re

import numpy as np
import pytest
import torch

from trigen.data import captions as cap
from trigen.data.captioned import caption_digit_dataset, load_captioned
from trigen.data.datasets import ImageDataset
from trigen.data.mnist import load_mnist
from trigen.data.morpho import measure_attributes
from trigen.errors import DataError

SIDE = 28
EDGES = cap.CaptionBins(thickness=(2.0, 3.0), slant=(0.0, 0.2), area=100.0)
# Every (class, thickness, slant, size) combination once: 10 * 3 * 3 * 2 = 180 rows.
# Roughly MNIST's attribute means and stds (area, length, thickness, slant, width, height).
MEANS = np.array([100.0, 40.0, 2.6, 0.1, 12.0, 18.0])
STDS = np.array([30.0, 10.0, 0.7, 0.25, 4.0, 1.0])
GRID = np.array(list(itertools.product(range(10), range(3), range(3), range(2))))


def mentions(caption: str, phrases) -> bool:
    """Whether ``caption`` holds one of ``phrases`` as whole words (a hyphen joins words)."""
    return any(re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", caption) for p in phrases)


def thickness_words(b: int) -> set[str]:
    return set(cap.THICKNESS_WORDS[b]) | set(cap.STROKE_WORDS[b])


def slant_words(b: int) -> set[str]:
    return set(cap.SLANT_ADJECTIVES[b]) | set(cap.SLANT_PHRASES[b])


def class_words(digit: int) -> set[str]:
    return {cap.NUMERALS[digit], cap.DIGIT_NAMES[digit]}


def digit_set(labels: np.ndarray) -> ImageDataset:
    images = torch.zeros(len(labels), 1, SIDE, SIDE, dtype=torch.uint8)
    return ImageDataset(images, torch.as_tensor(labels, dtype=torch.int64), 10, [""] * 10, "mnist")


def test_every_caption_names_its_class_thickness_and_slant_and_no_other():
    rows = np.repeat(GRID, 40, axis=0)  # 40 draws per combination: every template shows up
    texts = cap.caption_digits(rows[:, 0], rows[:, 1:], seed=0)
    sized = set()
    for (digit, thick, slant, size), text in zip(rows, texts, strict=True):
        assert mentions(text, class_words(digit)), text
        assert not mentions(text, cap.SIZE_WORDS[1 - size]), text  # a size word is its own bin's
        if mentions(text, cap.SIZE_WORDS[size]):
            sized.add(int(size))
        assert mentions(text, thickness_words(thick)), text
        assert mentions(text, slant_words(slant)), text
        others = [w for b in range(3) if b != thick for w in thickness_words(b)]
        others += [w for b in range(3) if b != slant for w in slant_words(b)]
        assert not mentions(text, others), text
        assert not re.search(r"\ba (?!one\b)[aeiou8]", text), text  # "an eight", "an upright"
    assert sized == {0, 1}  # both size bins are named by the templates that name a size


def test_every_word_and_template_is_used():
    rows = np.repeat(GRID, 40, axis=0)
    joined = "\n".join(cap.caption_digits(rows[:, 0], rows[:, 1:], seed=1))
    words = [*cap.NUMERALS, *cap.DIGIT_NAMES, *itertools.chain(*cap.SIZE_WORDS)]
    for groups in (cap.THICKNESS_WORDS, cap.STROKE_WORDS, cap.SLANT_ADJECTIVES, cap.SLANT_PHRASES):
        words += itertools.chain(*groups)
    assert all(mentions(joined, [w]) for w in words)
    for template in cap.TEMPLATES:  # each template's fixed words, e.g. "the number", "strokes,"
        fixed = [part.strip() for part in re.split(r"\{\w+\}", template) if part.strip(" ,")]
        assert all(part.removeprefix("a ") in joined for part in fixed), template


def test_same_seed_same_captions_another_seed_rewords():
    labels, bins = GRID[:, 0], GRID[:, 1:]
    first = cap.caption_digits(labels, bins, seed=3)
    assert first == cap.caption_digits(labels, bins, seed=3)
    assert sum(a != b for a, b in zip(first, cap.caption_digits(labels, bins, 4), strict=True)) > 90


def test_blank_images_are_unmeasured_and_not_captioned():
    attributes = np.array([[0.0, 0.0, np.nan, np.nan, np.nan, np.nan], [150, 30, 2.5, 0.1, 12, 18]])
    bins = EDGES.assign(attributes)
    assert bins.tolist() == [[cap.UNMEASURED, cap.UNMEASURED, 0], [1, 1, 1]]
    with pytest.raises(DataError, match="blank"):
        cap.caption_digits(np.array([0, 1]), bins, seed=0)


def test_edges_are_training_terciles_and_round_trip_through_json():
    rng = np.random.default_rng(0)
    attributes = MEANS + STDS * rng.normal(size=(3000, 6))
    edges = cap.CaptionBins.fit(attributes)
    counts = np.stack([np.bincount(col, minlength=3) for col in edges.assign(attributes).T])
    assert np.abs(counts[:2] - 1000).max() <= 1 and np.abs(counts[2, :2] - 1500).max() <= 1
    assert cap.CaptionBins.from_dict(edges.to_dict()) == edges
    with pytest.raises(DataError, match="thickness"):
        cap.CaptionBins.from_dict({"slant": [0, 1], "area": 3})


def test_held_out_combinations_never_reach_training_and_all_reach_test():
    rows = np.repeat(GRID, 3, axis=0)
    labels, bins = rows[:, 0], rows[:, 1:]
    train = caption_digit_dataset(digit_set(labels), bins, EDGES, "train", seed=0)
    test = caption_digit_dataset(digit_set(labels), bins, EDGES, "test", seed=0)
    held = cap.held_out_mask(labels, bins)
    assert len(train) == len(train.dataset) == (~held).sum() and len(test) == len(rows)

    def pairs(data, column):
        kept = data.dataset.labels.numpy(), data.digits.bins[:, column]
        return set(zip(*kept, strict=True))

    assert not pairs(train, 0) & cap.HELD_OUT_THICKNESS and not pairs(train, 1) & cap.HELD_OUT_SLANT
    assert pairs(test, 0) >= cap.HELD_OUT_THICKNESS and pairs(test, 1) >= cap.HELD_OUT_SLANT
    assert not train.digits.held_out.any() and (test.digits.held_out == held).all()
    threes = [t for d, t in zip(train.dataset.labels, train.captions, strict=True) if d == 3]
    assert threes and not any(mentions(t, thickness_words(0)) for t in threes)  # no thin 3
    # Captions are drawn before the held-out images are dropped: the kept ones are unchanged.
    assert train.captions == tuple(t for t, h in zip(test.captions, held, strict=True) if not h)


def test_thin_and_thick_bars_and_left_and_right_bars_land_in_different_bins():
    images, _ = load_mnist("train")
    edges = cap.CaptionBins.fit(measure_attributes(images[:400]))  # ~1/150 of the set
    bars = torch.zeros(4, 1, SIDE, SIDE, dtype=torch.uint8)
    bars[0, 0, 6:22, 13] = 255  # 1 px wide
    bars[1, 0, 6:22, 11:16] = 255  # 5 px wide
    for row in range(6, 22):  # 3 px wide, sheared one pixel per two rows
        shift = (row - 14) // 2
        bars[2, 0, row, 13 - shift : 16 - shift] = 255  # top to the right
        bars[3, 0, row, 13 + shift : 16 + shift] = 255  # top to the left
    bins = cap.bin_images(bars, edges)
    assert bins[0, 0] == 0 and bins[1, 0] == 2  # thin, thick
    assert bins[2, 1] == 2 and bins[3, 1] == 0  # leaning right, leaning left


def test_load_captioned_mnist_aligns_captions_and_drops_held_out(monkeypatch, tmp_path):
    """The loader's wiring, with fast stand-in measurements (the real ones take a minute)."""

    def fake_attributes(images, cache_dir, key):
        rng = np.random.default_rng(len(images))
        return MEANS + STDS * rng.normal(size=(len(images), 6))

    monkeypatch.setattr("trigen.data.morpho.cached_attributes", fake_attributes)
    train = load_captioned("mnist", "train", cache_dir=tmp_path, seed=5)
    test = load_captioned("mnist", "test", cache_dir=tmp_path, seed=5, resolution=32)
    assert len(train.captions) == len(train.dataset) == len(train.digits.bins) < 60_000
    assert len(test.captions) == len(test.dataset) == 10_000
    assert test.dataset.images.shape[1:] == (1, 32, 32) and test.digits.edges == train.digits.edges
    assert test.digits.held_out.sum() > 500 and not train.digits.held_out.any()
    for data in (train, test):
        for digit, text in zip(data.dataset.labels[:2000].tolist(), data.captions, strict=False):
            assert mentions(text, class_words(digit)), text
