"""Captioned real images: an :class:`ImageDataset` with one caption per image, and its metadata.

``mnist``: captions from each digit's class and measured attributes (:mod:`trigen.data.captions`);
the training split drops the images of held-out combinations, the test split keeps and flags
them. ``openmoji``: the CSV text of each rendered glyph (:mod:`trigen.data.openmoji_text`), with
openmoji's own split (every 10th distinct glyph is a test glyph, never trained on). Captions are
strings; tokenizing them is the text encoders' business.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trigen.data.captions import CaptionBins, caption_digits, held_out_mask
from trigen.data.datasets import DatasetName, ImageDataset, load_dataset, parse_dataset_name
from trigen.data.mnist import load_mnist
from trigen.data.openmoji import OPENMOJI_SIDE
from trigen.data.openmoji_text import (
    EmojiText,
    distinct_glyph_codepoints,
    openmoji_csv_path,
    read_openmoji_csv,
    split_mask,
)
from trigen.data.splits import Split, check_split
from trigen.errors import ConfigError, DataError

CAPTIONED = (DatasetName.MNIST, DatasetName.OPENMOJI)
ATTRIBUTE_CACHE_KEY = "mnist-attributes"  # the key attach_conditions uses: one cache for both


@dataclass(frozen=True)
class DigitAnnotations:
    """What the MNIST captions say of each image.

    ``bins`` int64 (N, 3): thickness, slant and size bins (``captions.BIN_COLUMNS``); ``held_out``
    bool (N,): a held-out combination (only ever True in the test split); ``edges``: the training
    split's bin edges, to bin samples with (:func:`trigen.data.captions.bin_images`).
    """

    bins: np.ndarray
    held_out: np.ndarray
    edges: CaptionBins


@dataclass(frozen=True)
class CaptionedDataset:
    """Images, one caption per image, and the dataset's own per-image metadata.

    ``captions[i]`` describes ``dataset.images[i]``; ``digits`` is set for mnist, ``emoji`` (the
    CSV row of each glyph) for openmoji.
    """

    dataset: ImageDataset
    captions: tuple[str, ...]
    digits: DigitAnnotations | None = None
    emoji: tuple[EmojiText, ...] | None = None

    def __len__(self) -> int:
        return len(self.captions)


def load_captioned(
    name: DatasetName | str,
    split: Split,
    *,
    cache_dir: Path | None = None,
    seed: int = 0,
    root: Path | None = None,
    resolution: int | None = None,
    channels: int | None = None,
) -> CaptionedDataset:
    """Dataset ``name``'s ``split`` with captions (``mnist`` or ``openmoji``).

    ``cache_dir``: mnist — where the measured attributes are cached (None: measured anew, about a
    minute for the 60,000 training images, which the bin edges always need); openmoji — where
    :func:`~trigen.data.openmoji_text.fetch_openmoji_csv` wrote the CSV (required). ``seed``
    picks the mnist caption wording. ``root``, ``resolution``, ``channels``: as for
    :func:`~trigen.data.datasets.load_dataset` (openmoji's ``root`` caches the rendered glyphs;
    without it the set is rendered twice). Attributes are measured on the 28-px originals.
    """
    name = parse_dataset_name(name)
    split = check_split(split)
    if name not in CAPTIONED:
        valid = ", ".join(n.value for n in CAPTIONED)
        raise ConfigError(f"dataset {name.value} has no captions; captioned datasets: {valid}")
    if name is DatasetName.MNIST:
        dataset = load_dataset(name, split, root=root, resolution=resolution, channels=channels)
        return _caption_mnist(dataset, split, cache_dir, seed, root)
    if cache_dir is None:
        raise ConfigError("openmoji captions need cache_dir: where fetch_openmoji_csv wrote them")
    texts = read_openmoji_csv(openmoji_csv_path(cache_dir))  # before rendering: fail fast
    dataset = load_dataset(name, split, root=root, resolution=resolution, channels=channels)
    return _caption_openmoji(dataset, texts, split, resolution or OPENMOJI_SIDE, root)


def mnist_caption_bins(cache_dir: Path | None = None, root: Path | None = None) -> CaptionBins:
    """The caption bin edges of the MNIST training split (attributes cached in ``cache_dir``)."""
    return CaptionBins.fit(_mnist_attributes("train", cache_dir, root))


def _mnist_attributes(split: Split, cache_dir: Path | None, root: Path | None) -> np.ndarray:
    from trigen.data.morpho import cached_attributes  # skimage/scipy: only when measuring

    images, _ = load_mnist(split, root)
    return cached_attributes(images, cache_dir, ATTRIBUTE_CACHE_KEY)


def _caption_mnist(
    dataset: ImageDataset, split: Split, cache_dir: Path | None, seed: int, root: Path | None
) -> CaptionedDataset:
    edges = mnist_caption_bins(cache_dir, root)
    bins = edges.assign(_mnist_attributes(split, cache_dir, root))
    return caption_digit_dataset(dataset, bins, edges, split, seed)


def caption_digit_dataset(
    dataset: ImageDataset, bins: np.ndarray, edges: CaptionBins, split: Split, seed: int
) -> CaptionedDataset:
    """A digit set captioned from its bins (N, 3); held-out combinations dropped from ``train``.

    Every image is captioned before any is dropped, so an image's caption does not depend on
    which others are held out.
    """
    labels = dataset.labels.numpy()
    if bins.shape != (len(labels), 3):
        raise DataError(f"{len(labels)} images but bins of shape {bins.shape}")
    captions = caption_digits(labels, bins, seed)
    held_out = held_out_mask(labels, bins)
    keep = ~held_out if check_split(split) == "train" else np.ones(len(labels), dtype=bool)
    index = torch.from_numpy(np.flatnonzero(keep))
    kept = _subset(dataset, index)
    return CaptionedDataset(
        kept,
        tuple(captions[i] for i in index.tolist()),
        digits=DigitAnnotations(bins[keep], held_out[keep], edges),
    )


def _caption_openmoji(
    dataset: ImageDataset,
    texts: dict[tuple[int, ...], EmojiText],
    split: Split,
    side: int,
    root: Path | None,
) -> CaptionedDataset:
    glyphs = distinct_glyph_codepoints(side, root)
    glyphs = [g for g, chosen in zip(glyphs, split_mask(len(glyphs), split), strict=True) if chosen]
    if len(glyphs) != len(dataset):
        raise DataError(f"openmoji {split}: {len(dataset)} images but {len(glyphs)} glyph names")
    matched = [i for i, glyph in enumerate(glyphs) if glyph in texts]
    if len(matched) < len(glyphs):  # none in 17.0.0; a caption-less image cannot teach text
        warnings.warn(
            f"openmoji {split}: {len(glyphs) - len(matched)} glyphs have no CSV row; dropped",
            stacklevel=3,
        )
    rows = tuple(texts[glyphs[i]] for i in matched)
    kept = _subset(dataset, torch.tensor(matched, dtype=torch.int64))
    return CaptionedDataset(kept, tuple(row.caption for row in rows), emoji=rows)


def _subset(dataset: ImageDataset, index: torch.Tensor) -> ImageDataset:
    """``dataset`` restricted to the images at ``index`` (int64), conditions included."""
    if len(index) == len(dataset):
        return dataset
    conds = {key: value[index] for key, value in dataset.conds.items()}
    return dataclasses.replace(
        dataset, images=dataset.images[index], labels=dataset.labels[index], conds=conds
    )
