"""Text adherence of a trained model: samples asked for test captions, scored as the real
images are.

The captions of real test images are requested (tokenized by the run's own tokenizer), with the
class label null: on MNIST the caption names the digit, and keeping the label would measure the
label. Each sample is scored by

- **R-precision** (:mod:`trigen.eval.retrieval`): its requested caption ranked first among 100
  (1 true, 99 others) by the in-domain text matcher (:mod:`trigen.eval.text_match`), and the
  matcher's cosine of the sample and its caption (a CLIP-score analogue);
- on MNIST captions, **class accuracy** (the domain classifier names the requested digit) and
  **bin accuracy** (its measured thickness and slant fall in the requested bins, both, as
  :func:`trigen.data.captions.bin_images` binned the captions' images).

Overall on the first ``n`` test images, and on ``n`` test images of **held-out combinations**
(the first flagged ones; those among the first ``n`` are sampled once). Beside the samples:
**real**, the test images against their own captions (the ceiling), and **chance**, the samples
against another request (the requests rolled by one), as for the other conditions. A rate has a
95 % Wilson interval over images, the cosine a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from trigen.data.captioned import DigitAnnotations
from trigen.data.captions import CaptionBins, bin_images
from trigen.data.mnist import MNIST_SIDE
from trigen.eval.adherence import mean_with_interval
from trigen.eval.domain import DomainClassifier
from trigen.eval.retrieval import chance, draw_distractors, r_precision_hits
from trigen.eval.text_match import TextMatcher
from trigen.measure.intervals import wilson_interval

CAPTION_SIDE = MNIST_SIDE  # the captions' bins were measured on the 28-px originals
BIN_FIELDS = (0, 1)  # the bins every MNIST caption names: thickness and slant (captions.BINS)


@dataclass(frozen=True)
class TextReference:
    """What text samples are judged with: the test split's ``captions`` (one per image, aligned
    with the conditioned test split), the ``matcher``, the ``domain`` classifier (class accuracy;
    None: not measured) and the ``digits`` annotations (bins and held-out flags; None for a
    dataset without them)."""

    captions: tuple[str, ...]
    matcher: TextMatcher
    domain: DomainClassifier | None = None
    digits: DigitAnnotations | None = None


def text_requests(reference: TextReference, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test indices to request, which of them are among the first ``n``, which are held out):
    the first ``n`` test images, then held-out ones until ``n`` held-out requests (or all)."""
    first = np.arange(min(n, len(reference.captions)))
    if reference.digits is None:
        return first, np.ones(len(first), bool), np.zeros(len(first), bool)
    held = np.flatnonzero(reference.digits.held_out)[:n]
    index = np.union1d(first, held)
    return index, index < len(first), reference.digits.held_out[index]


def text_rows(
    reference: TextReference, index: np.ndarray, samples: Tensor, real: Tensor, labels: Tensor
) -> dict[str, dict[str, np.ndarray]]:
    """Per-request scores of ``samples`` (N, C, H, W) uint8 asked for the captions of test images
    ``index`` (N,), whose real images are ``real`` and classes ``labels``: ``{"samples", "real",
    "chance": {score: (N,)}}``, a hit (bool) per request for ``r_precision``, ``class_accuracy``,
    ``bin_accuracy``, ``thickness_bin_accuracy`` and ``slant_bin_accuracy`` (the last four where
    the reference can judge them) and the ``cosine`` (float) — the rows a decider resamples."""
    others = draw_distractors(reference.captions, index)
    rolled = np.roll(np.arange(len(index)), 1)
    measures = _measures(reference, index, others, labels)
    return {
        "samples": measures(samples, np.arange(len(index))),
        "real": measures(real, np.arange(len(index))),
        "chance": measures(samples, rolled),
    }


def text_scores(
    reference: TextReference,
    index: np.ndarray,
    groups: dict[str, np.ndarray],
    samples: Tensor,
    real: Tensor,
    labels: Tensor,
) -> dict[str, Any]:
    """:func:`text_rows` summarised over each of ``groups`` ({suffix: bool (N,)}: "" for every
    image, "_held_out" …): a rate with its Wilson interval per hit score, the mean cosine with a
    bootstrap interval, and the R-precision of chance."""
    rows = text_rows(reference, index, samples, real, labels)
    out: dict[str, Any] = {"kind": "text", "chance_r_precision": chance()}
    for which, values in rows.items():
        out[which] = {
            f"{name}{suffix}": _summary(name, value[mask])
            for name, value in values.items()
            for suffix, mask in groups.items()
        }
    return out


Measures = Callable[[Tensor, np.ndarray], dict[str, np.ndarray]]


def _measures(
    reference: TextReference, index: np.ndarray, others: np.ndarray, labels: Tensor
) -> Measures:
    """``measure(images, asked)``: per-image scores (N,) of images judged against the requests
    at positions ``asked`` (N,) of ``index``."""
    bins = None if reference.digits is None else reference.digits.bins[index]

    def measure(images: Tensor, asked: np.ndarray) -> dict[str, np.ndarray]:
        matcher = reference.matcher
        scores = matcher.scores(images, reference.captions, index[asked], others[asked])
        values = {"r_precision": r_precision_hits(scores), "cosine": scores[:, 0]}
        if reference.domain is not None:
            predicted = reference.domain.predict(images).numpy()
            values["class_accuracy"] = predicted == labels.numpy()[asked]
        if bins is not None and reference.digits is not None:
            measured = caption_bins(images, reference.digits.edges)
            right = measured[:, BIN_FIELDS] == bins[asked][:, BIN_FIELDS]
            values["bin_accuracy"] = right.all(axis=1)
            values["thickness_bin_accuracy"], values["slant_bin_accuracy"] = right.T
        return values

    return measure


def caption_bins(images: Tensor, edges: CaptionBins) -> np.ndarray:
    """Bins int64 (N, 3) of uint8 grey images (N, 1, H, W), measured at the captions' side:
    smaller images are upsampled to it (bilinear) first, as the bin edges are in its pixels.
    An image with nothing to measure (blank) has the bin UNMEASURED, which matches no request."""
    if images.shape[-1] != CAPTION_SIDE:
        size = (CAPTION_SIDE, CAPTION_SIDE)
        scaled = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False)
        images = scaled.round().clamp(0, 255).to(torch.uint8)
    return bin_images(images, edges)


def _summary(name: str, values: np.ndarray) -> dict[str, Any]:
    """``{"mean", "mean_interval", "n"}`` of a cosine, ``{"rate", "rate_interval", "n"}`` of
    hits (Wilson); NaN without images."""
    if name == "cosine":
        mean, interval, n = mean_with_interval(values)
        return {"mean": mean, "mean_interval": list(interval), "n": n}
    n = len(values)
    if n == 0:
        return {"rate": float("nan"), "rate_interval": [float("nan")] * 2, "n": 0}
    hits = int(np.sum(values))
    return {"rate": hits / n, "rate_interval": list(wilson_interval(hits, n)), "n": n}
