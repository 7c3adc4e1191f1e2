"""R-precision: a perfect evaluator scores 1, one that ignores the text scores chance, and the
distractors are other captions, drawn the same way every time (issue 26)."""

import numpy as np
import pytest

from trigen.errors import DataError
from trigen.eval.retrieval import DISTRACTORS, chance, draw_distractors, r_precision_hits
from trigen.measure.intervals import wilson_interval


def _captions(n: int = 600, distinct: int = 150, seed: int = 0) -> list[str]:
    """Templated captions that repeat, as MNIST's do."""
    rng = np.random.default_rng(seed)
    return [f"caption {k}" for k in rng.integers(0, distinct, n)]


def _scores(captions: list[str], requests: np.ndarray, others: np.ndarray, judge) -> np.ndarray:
    candidates = np.concatenate([requests[:, None], others], axis=1)
    return np.array(
        [[judge(i, captions[j]) for j in row] for i, row in zip(requests, candidates, strict=True)]
    )


def test_distractors_are_other_captions_drawn_the_same_way_every_time():
    captions = _captions()
    requests = np.arange(50)
    others = draw_distractors(captions, requests)
    assert others.shape == (50, DISTRACTORS) and others.dtype == np.int64
    for request, row in zip(requests, others, strict=True):
        assert len(set(row.tolist())) == DISTRACTORS  # distinct images
        assert all(captions[j] != captions[request] for j in row)  # never the request's text
    np.testing.assert_array_equal(others, draw_distractors(captions, requests))
    assert not np.array_equal(others, draw_distractors(captions, requests, seed=1))


def test_too_few_other_captions_are_one_line():
    with pytest.raises(DataError, match="only 50 images captioned otherwise"):
        draw_distractors(["a"] * 10 + [f"b{i}" for i in range(50)], [0])


def test_a_perfect_evaluator_has_r_precision_one():
    captions = _captions()
    requests = np.arange(300)
    others = draw_distractors(captions, requests)
    scores = _scores(captions, requests, others, lambda i, text: float(text == captions[i]))
    assert r_precision_hits(scores).all()


@pytest.mark.parametrize("judge", ["random", "constant"])
def test_an_evaluator_that_ignores_the_text_scores_chance(judge):
    n = 3000
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(n, DISTRACTORS + 1)) if judge == "random" else np.ones((n, 100))
    hits = r_precision_hits(scores)
    low, high = wilson_interval(int(hits.sum()), n)
    assert low <= chance() <= high and chance() == 0.01
    assert high < 0.03


def test_ties_below_a_higher_distractor_are_misses_and_bad_shapes_are_refused():
    scores = np.array([[1.0, 1.0, 2.0], [2.0, 1.0, 1.0]])
    np.testing.assert_array_equal(r_precision_hits(scores), [False, True])
    with pytest.raises(DataError, match=r"\(N, 1 \+ k\)"):
        r_precision_hits(np.ones((3, 1)))
