"""Captions for MNIST digits from their class and measured stroke attributes.

Each digit is described by its class and three words binned from its Morpho-MNIST measurements
(:mod:`trigen.data.morpho`): stroke **thickness** (thin / medium / thick), **slant** (leaning left
/ upright / leaning right) and **size** (small / large). All edges come from the training split
(:meth:`CaptionBins.fit`) and are reused unchanged for the test split and for generated samples
(:func:`bin_images`, for attribute-bin accuracy):

- thickness: the training terciles, in pixels (MNIST: 2.26 and 2.79 px);
- slant: the training terciles, in radians (MNIST: −0.011 and 0.220, i.e. −0.6° and 12.6°).
  Terciles, not fixed angles: MNIST leans right on average (mean 6°), so "upright" and "leaning"
  are relative to how people write digits, and each bin holds a third of the data (chance 1/3);
- size: the training median of the inked area (MNIST: 100.25 px²).

A caption always names the class, the thickness and the slant; some templates add the size. The
template and every synonym are drawn per image from ``seed`` (:func:`caption_digits`).

Held-out combinations (``HELD_OUT_THICKNESS``, ``HELD_OUT_SLANT``): thin 3s, thick 0s,
right-leaning 7s and left-leaning 4s. Their training images are dropped (not re-captioned), so a
model never sees them; the test split keeps them, flagged, to measure compositional
generalisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from trigen.errors import DataError

THICKNESS_BINS = ("thin", "medium", "thick")  # bin index -> name
SLANT_BINS = ("left", "upright", "right")
SIZE_BINS = ("small", "large")
BIN_COLUMNS = ("thickness", "slant", "size")  # columns of every (N, 3) bin array
UNMEASURED = -1  # the bin of an image whose attribute is NaN (no stroke at the mid level)

# (class, thickness bin) and (class, slant bin) pairs whose training images are dropped.
HELD_OUT_THICKNESS = frozenset({(3, 0), (0, 2)})  # thin 3s, thick 0s
HELD_OUT_SLANT = frozenset({(7, 2), (4, 0)})  # right-leaning 7s, left-leaning 4s

# Columns of trigen.data.morpho.ATTRIBUTES that the bins read.
_AREA, _THICKNESS, _SLANT = 0, 2, 3

NUMERALS = tuple(str(digit) for digit in range(10))
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Synonyms per bin: an adjective ("a thick 7"), a stroke word ("bold strokes") and, for slant, a
# phrase ("a 7 leaning right").
THICKNESS_WORDS = (
    ("thin", "fine", "light", "thin-stroked"),
    ("medium", "medium-weight", "average-weight"),
    ("thick", "bold", "heavy", "thick-stroked"),
)
STROKE_WORDS = (
    ("thin", "fine", "light"),
    ("medium", "medium-weight", "average"),
    THICKNESS_WORDS[2][:3],
)
SLANT_ADJECTIVES = (
    ("left-leaning", "left-slanted", "backward-slanted"),
    ("upright", "straight", "vertical"),
    ("right-leaning", "right-slanted", "forward-slanted"),
)
SLANT_PHRASES = (
    ("leaning left", "slanting to the left", "tilted to the left"),
    ("standing upright", "standing straight", "without a slant"),
    ("leaning right", "slanting to the right", "tilted to the right"),
)
SIZE_WORDS = (("small", "little"), ("large", "big"))

# {digit}: a numeral or a name; {thick}/{stroke}: a thickness adjective or stroke word;
# {slant}/{slanted}: a slant phrase or adjective; {size}: a size word. "a" before a vowel sound
# becomes "an" afterwards.
TEMPLATES = (
    "a {thick} {digit} {slant}",
    "a {thick}, {slanted} {digit}",
    "digit {digit}, {stroke} strokes, {slanted}",
    "a {size} {digit} with {stroke} strokes, {slant}",
    "handwritten {digit}, {thick} and {slanted}",
    "the number {digit} written with {stroke} strokes, {slant}",
    "a {size}, {thick}, {slanted} {digit}",
    "a {slanted} {digit} in {stroke} strokes",
)
_SLOTS = ("template", "name", "thick", "stroke", "slant", "slanted", "size")  # one draw each
_AN = re.compile(r"\ba (?=[aeiu8]|o(?!ne\b)|eight\b)")  # "a one" stays; "a eight" does not


@dataclass(frozen=True)
class CaptionBins:
    """Bin edges fitted on a training split; the same edges bin any other images.

    ``thickness``: the two tercile edges in pixels; ``slant``: the two tercile edges in radians
    (positive leans right); ``area``: the median inked area in pixels², between small and large.
    """

    thickness: tuple[float, float]
    slant: tuple[float, float]
    area: float

    @classmethod
    def fit(cls, attributes: np.ndarray) -> CaptionBins:
        """Edges from training attributes (N, 6), columns ``morpho.ATTRIBUTES``; NaN rows skip."""
        attributes = _check_attributes(attributes)
        measured = attributes[np.isfinite(attributes).all(axis=1)]
        if len(measured) < 3:
            raise DataError("caption bins need at least 3 measurable training images")
        thickness = np.quantile(measured[:, _THICKNESS], [1 / 3, 2 / 3])
        slant = np.quantile(measured[:, _SLANT], [1 / 3, 2 / 3])
        area = float(np.median(measured[:, _AREA]))
        return cls(
            (float(thickness[0]), float(thickness[1])), (float(slant[0]), float(slant[1])), area
        )

    def assign(self, attributes: np.ndarray) -> np.ndarray:
        """Bins int64 (N, 3), columns ``BIN_COLUMNS``, of attributes (N, 6); UNMEASURED for NaN.

        A value on an edge goes to the upper bin.
        """
        attributes = _check_attributes(attributes)
        columns = (
            (attributes[:, _THICKNESS], self.thickness),
            (attributes[:, _SLANT], self.slant),
            (attributes[:, _AREA], (self.area,)),
        )
        out = np.stack([np.digitize(values, edges) for values, edges in columns], axis=1)
        out[np.isnan(np.stack([values for values, _ in columns], axis=1))] = UNMEASURED
        return out.astype(np.int64)

    def to_dict(self) -> dict[str, list[float] | float]:
        """JSON-ready edges; :meth:`from_dict` reads them back."""
        return {"thickness": list(self.thickness), "slant": list(self.slant), "area": self.area}

    @classmethod
    def from_dict(cls, data: dict) -> CaptionBins:
        """Edges from :meth:`to_dict`'s output; DataError when a field is missing or malformed."""
        try:
            thickness = tuple(float(v) for v in data["thickness"])
            slant = tuple(float(v) for v in data["slant"])
            area = float(data["area"])
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"caption bins need thickness, slant and area ({err!r})") from None
        if len(thickness) != 2 or len(slant) != 2:
            raise DataError("caption bins need two thickness and two slant edges")
        return cls(thickness, slant, area)  # type: ignore[arg-type]


def bin_images(images: Tensor, bins: CaptionBins) -> np.ndarray:
    """Bins int64 (N, 3) of uint8 grey images (N, 1, H, W), measured as the captions' images were.

    Attribute-bin accuracy of samples is ``(bin_images(samples, bins) == requested).mean(0)``.
    """
    from trigen.data.morpho import measure_attributes  # skimage/scipy: only when measuring

    return bins.assign(measure_attributes(images))


def held_out_mask(labels: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """bool (N,): which images of classes (N,) and bins (N, 3) form a held-out combination."""
    labels, bins = np.asarray(labels), np.asarray(bins)
    mask = np.zeros(len(labels), dtype=bool)
    for column, pairs in ((0, HELD_OUT_THICKNESS), (1, HELD_OUT_SLANT)):
        for digit, held in pairs:
            mask |= (labels == digit) & (bins[:, column] == held)
    return mask


def caption_digits(labels: np.ndarray, bins: np.ndarray, seed: int) -> list[str]:
    """One caption per digit of classes (N,) in 0..9 and bins (N, 3) (:meth:`CaptionBins.assign`).

    Image i's template and synonyms depend only on ``seed``, i and its class and bins, so the same
    seed gives the same captions, and another seed (say, one per epoch) rewords them. Raises
    DataError for an UNMEASURED bin: a blank image has no stroke to describe.
    """
    labels, bins = np.asarray(labels), np.asarray(bins)
    if labels.shape != (len(bins),) or bins.shape[1:] != (3,):
        raise DataError(f"caption_digits needs labels (N,) and bins (N, 3), got {labels.shape}")
    if (bins == UNMEASURED).any():
        raise DataError("cannot caption a blank image (an UNMEASURED bin): drop it first")
    draws = np.random.default_rng(seed).integers(0, 2**31, (len(labels), len(_SLOTS)))
    return [
        _caption(int(c), row, dict(zip(_SLOTS, d, strict=True)))
        for c, row, d in zip(labels, bins, draws, strict=True)
    ]


def _caption(digit: int, bins: np.ndarray, draw: dict[str, int]) -> str:
    thickness, slant, size = (int(b) for b in bins)
    names = DIGIT_NAMES if draw["name"] % 2 else NUMERALS

    def pick(options: tuple[str, ...], slot: str) -> str:
        return options[draw[slot] % len(options)]

    words = {
        "digit": names[digit],
        "thick": pick(THICKNESS_WORDS[thickness], "thick"),
        "stroke": pick(STROKE_WORDS[thickness], "stroke"),
        "slant": pick(SLANT_PHRASES[slant], "slant"),
        "slanted": pick(SLANT_ADJECTIVES[slant], "slanted"),
        "size": pick(SIZE_WORDS[size], "size"),
    }
    return _AN.sub("an ", TEMPLATES[draw["template"] % len(TEMPLATES)].format(**words))


def _check_attributes(attributes: np.ndarray) -> np.ndarray:
    attributes = np.asarray(attributes, dtype=np.float64)
    if attributes.ndim != 2 or attributes.shape[1] != 6:
        raise DataError(f"attributes must be (N, 6) (morpho.ATTRIBUTES), got {attributes.shape}")
    return attributes
