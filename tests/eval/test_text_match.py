"""The text matcher: it learns which caption belongs to which image, keeps its own test
R-precision, and its cache round-trips and refuses tampering (issue 26)."""

import json

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.datasets import ImageDataset
from trigen.errors import CheckpointError, DataError
from trigen.eval.retrieval import chance
from trigen.eval.text_match import EMBED_DIM, TextMatcher, info_nce

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", "train", resolution=16), load_dataset(
        "mnist", "test", resolution=16
    )


def _captioned(data: ImageDataset, n: int) -> tuple[ImageDataset, list[str]]:
    """The first n images, captioned by their class: every distractor names another digit."""
    subset = ImageDataset(data.images[:n], data.labels[:n], 10, data.class_names, data.name)
    labels = subset.labels.tolist()
    return subset, [f"a handwritten {NAMES[c]}" for c in labels]


def _train(mnist, cache, **budget) -> TextMatcher:
    train, test = _captioned(mnist[0], 1500), _captioned(mnist[1], 300)
    budget = {"max_epochs": 4.0, **budget}
    return TextMatcher.train_or_load(*train, *test, cache, **budget)


def test_info_nce_counts_a_captions_duplicates_as_positives():
    ids = torch.arange(8)[:, None]  # eight different one-token captions
    matched = torch.eye(8) * 20
    assert info_nce(matched, ids) < 1e-6
    skewed = torch.randn(8, 8)
    assert info_nce(skewed, ids) == pytest.approx(float(info_nce(skewed.T, ids)))
    # images 0 and 1 share their caption: which copy an image matches does not matter
    twins, distinct = torch.tensor([[0], [0], [1], [2]]), torch.arange(4)[:, None]
    logits, swapped = torch.randn(4, 4), [1, 0, 2, 3]
    assert info_nce(logits, twins) == pytest.approx(float(info_nce(logits[:, swapped], twins)))
    assert info_nce(logits, distinct) != pytest.approx(
        float(info_nce(logits[:, swapped], distinct))
    )


def test_a_short_training_finds_the_captions_and_is_cached(mnist, tmp_path):
    # bounded by images seen, not time, so a busy machine gives the same network
    matcher = _train(mnist, tmp_path)
    assert matcher.info["test_requests"] == 300
    assert matcher.info["test_r_precision"] > 50 * chance()  # 0.95 measured
    test_images = mnist[1].images[:5]
    embeddings = matcher.image_embeddings(test_images)
    assert embeddings.shape == (5, EMBED_DIM)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(5), atol=1e-5)
    texts = matcher.text_embeddings(["a handwritten seven", ""])  # the empty caption is the null
    assert texts.shape == (2, EMBED_DIM)
    # a second call with the same budget finds the cache: no training
    again = _train(mnist, tmp_path)
    assert again.network_id == matcher.network_id
    assert {k: v for k, v in again.info.items() if k != "weights_sha256"} == matcher.info
    assert torch.equal(again.image_embeddings(test_images), embeddings)
    # float images in [-1, 1] are judged like their uint8 levels
    floats = test_images.float() / 127.5 - 1
    assert torch.allclose(matcher.image_embeddings(floats), embeddings, atol=1e-6)
    # another budget is another instrument, cached beside it
    _train(mnist, tmp_path, max_epochs=0.1)
    assert len(list(tmp_path.glob("textmatch-*.json"))) == 2


def test_altered_weights_are_refused_and_other_resolutions_too(mnist, tmp_path):
    matcher = _train(mnist, tmp_path, max_epochs=0.1)
    meta = next(tmp_path.glob("textmatch-*.json"))
    info = json.loads(meta.read_text())
    info["weights_sha256"] = "0" * 64
    meta.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="delete"):
        _train(mnist, tmp_path, max_epochs=0.1)
    with pytest.raises(DataError, match="resolution"):
        matcher.image_embeddings(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_captions_must_match_the_images():
    images = ImageDataset(
        torch.zeros(3, 1, 8, 8, dtype=torch.uint8), torch.zeros(3).long(), 0, [], "x"
    )
    with pytest.raises(DataError, match="3 images but 2 captions"):
        TextMatcher.train_or_load(images, ["a", "b"], images, ["a", "b", "c"], None)


def test_scores_rank_each_image_against_its_candidates(mnist, tmp_path):
    matcher = _train(mnist, tmp_path, max_epochs=0.1)
    _, captions = _captioned(mnist[1], 300)
    requests, others = np.array([0, 1]), np.array([[2, 3, 4], [5, 6, 7]])
    scores = matcher.scores(mnist[1].images[:2], captions, requests, others)
    assert scores.shape == (2, 4) and np.all(np.abs(scores) <= 1 + 1e-6)
    direct = (
        matcher.image_embeddings(mnist[1].images[:1]) @ matcher.text_embeddings([captions[3]]).T
    )
    assert scores[0, 2] == pytest.approx(float(direct), abs=1e-5)
