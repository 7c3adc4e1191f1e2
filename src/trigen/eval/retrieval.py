"""R-precision (AttnGAN, Xu et al. 2018): does an image pick its own caption out of a crowd?

For each image, its requested caption is ranked among itself and ``DISTRACTORS`` captions of
other images by an image–text evaluator's similarity; the image scores a hit when its caption
comes first. R-precision is the hit rate; an evaluator (or a generator) that ignores the text
reaches ``1 / (DISTRACTORS + 1)``.

Two departures from AttnGAN, both so that a perfect evaluator scores exactly 1: a distractor is
never a caption with the same text as the request (templated captions repeat: on MNIST a
distractor with the very words of the request would be a tie, not a mismatch), and ties are
broken uniformly at random, so an evaluator that cannot tell captions apart scores chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trigen.errors import DataError

DISTRACTORS = 99  # captions of other images each request is ranked against (1 true, 99 others)
SEED = 0  # the generator that draws distractors and breaks ties: fixed, so results repeat


def chance(distractors: int = DISTRACTORS) -> float:
    """The R-precision of an evaluator that cannot tell captions apart."""
    return 1 / (distractors + 1)


def draw_distractors(
    captions: Sequence[str],
    requests: Sequence[int] | np.ndarray,
    *,
    distractors: int = DISTRACTORS,
    seed: int = SEED,
) -> np.ndarray:
    """Indices (N, distractors) int64 into ``captions`` (the test split's, one per image): for
    request i (an index into ``captions``), distinct images whose caption's text differs from
    ``captions[requests[i]]``, drawn uniformly without replacement from ``seed``."""
    _, codes = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    requests = np.asarray(requests, dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = np.empty((len(requests), distractors), dtype=np.int64)
    for row, request in enumerate(requests):
        others = np.flatnonzero(codes != codes[request])
        if len(others) < distractors:
            raise DataError(
                f"R-precision ranks a caption among {distractors} others; the test split has "
                f"only {len(others)} images captioned otherwise"
            )
        out[row] = rng.choice(others, size=distractors, replace=False)
    return out


def r_precision_hits(scores: np.ndarray, *, seed: int = SEED) -> np.ndarray:
    """Hits bool (N,) of similarity ``scores`` (N, 1 + k), column 0 the requested caption's and
    the rest its distractors': a hit when the request scores above every distractor, and with
    probability 1 / (1 + t) when it ties with t of them and none is above."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise DataError(f"R-precision needs scores (N, 1 + k) with k ≥ 1, got {scores.shape}")
    true, others = scores[:, :1], scores[:, 1:]
    beaten = (others > true).any(axis=1)
    ties = (others == true).sum(axis=1)
    draw = np.random.default_rng(seed).random(len(scores))
    return ~beaten & (draw * (1 + ties) < 1)
