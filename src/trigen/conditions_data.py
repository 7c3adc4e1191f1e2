"""Named conditions of a dataset's images: attribute vectors, skeleton maps and captions.

``attributes`` are the Morpho-MNIST measurements of each image (:mod:`trigen.data.morpho`: area,
length, thickness, slant, width, height), normalised to z-scores with the *training* split's mean
and std, which the run stores (:class:`~trigen.conditions.ConditionSpec`) so a sampler can take
raw values and a test split is normalised the same way. ``skeleton`` is each image's 1-pixel
skeleton, a map aligned with it. Both are cached on disk by content hash: MNIST's 60,000 training
images are measured once per machine. ``text`` is a caption per image (:mod:`trigen.data.captioned`:
MNIST digits described by class and attribute bins, with held-out combinations dropped from the
training split; OpenMoji glyphs by their annotation and tags), tokenized for the run's text
encoder (:mod:`trigen.text`); a learned encoder's vocabulary comes from the training captions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.config import CONDITION_SOURCES, TrainConfig
from trigen.data.cache import default_cache_dir
from trigen.data.datasets import ImageDataset, load_dataset
from trigen.errors import ConfigError, DataError


@dataclass(frozen=True)
class ConditionedData:
    """A split with its named conditions attached, their specs, and the captions as text."""

    dataset: ImageDataset
    specs: tuple[ConditionSpec, ...]
    captions: tuple[str, ...] = ()
    truncated: int = 0  # captions longer than the text context, cut


def load_conditioned(
    cfg: TrainConfig,
    split: str,
    *,
    reference: Sequence[ConditionSpec] = (),
    cache_dir: Path | None = None,
) -> ConditionedData:
    """Split ``split`` of ``cfg``'s dataset with ``cfg.conditions`` attached, in their order.

    With ``text`` the images are the captioned set's (MNIST's training split without the held-out
    combinations); ``reference`` (the run's specs) fixes the normalisation and the vocabulary.
    """
    names = list(cfg.conditions)
    captions: tuple[str, ...] = ()
    truncated = 0
    text: ConditionSpec | None = None
    if "text" in names:
        from trigen.data.captioned import load_captioned
        from trigen.text import text_spec, tokenizer_for
        from trigen.text.wordllama import wordllama_root

        if cfg.text_encoder == "wordllama":
            wordllama_root()  # a missing install fails here, before the captions are measured
        captioned = load_captioned(
            cfg.dataset, split, cache_dir=cache_dir, seed=cfg.seed,
            root=Path(cfg.data_root) if cfg.data_root else None, resolution=cfg.resolution,
        )  # fmt: skip
        dataset, captions = captioned.dataset, tuple(captioned.captions)
        known = {spec.name: spec for spec in reference}
        text = known.get("text") or text_spec("text", cfg.text_encoder, cfg.text_length, captions)
        ids, cut = tokenizer_for(text).encode(captions, text.size)
        truncated = sum(cut)
        dataset = dataclasses.replace(dataset, conds={**dataset.conds, "text": ids})
    else:
        root = Path(cfg.data_root) if cfg.data_root else None
        dataset = load_dataset(cfg.dataset, split, root=root, resolution=cfg.resolution)
    measured = [name for name in names if name != "text"]
    dataset, specs = attach_conditions(dataset, measured, reference=reference, cache_dir=cache_dir)
    by_name = {spec.name: spec for spec in specs} | ({"text": text} if text else {})
    ordered = tuple(by_name[name] for name in names)
    return ConditionedData(dataset, ordered, captions, truncated)


def attach_conditions(
    dataset: ImageDataset,
    names: Sequence[str],
    *,
    reference: Sequence[ConditionSpec] = (),
    cache_dir: Path | None = None,
) -> tuple[ImageDataset, tuple[ConditionSpec, ...]]:
    """``dataset`` with the named conditions of its images attached, and their specs.

    ``reference``: the specs of the run's training data; a vector is normalised with their
    statistics (a test split, a sampler), else with this dataset's own. ``cache_dir`` None: no
    cache.
    """
    from trigen.data.morpho import ATTRIBUTES, cached_attributes, cached_skeleton_maps

    known = {spec.name: spec for spec in reference}
    conds = dict(dataset.conds)
    specs: list[ConditionSpec] = []
    for name in names:
        kind = CONDITION_SOURCES.get(name)
        if kind is None:
            raise ConfigError(f"unknown condition {name!r}; valid: {', '.join(CONDITION_SOURCES)}")
        if dataset.images.shape[1] != 1:
            raise DataError(
                f"condition {name} is measured on grayscale digits; {dataset.name} has "
                f"{dataset.images.shape[1]} channels"
            )
        if kind == "vector":
            raw = cached_attributes(dataset.images, cache_dir, f"{dataset.name}-attributes")
            spec = known.get(name) or _normalisation(name, raw, ATTRIBUTES)
            values = (raw - np.asarray(spec.mean)) / np.asarray(spec.std)
            conds[name] = torch.from_numpy(values.astype(np.float32))  # NaN rows stay null
        else:
            maps = cached_skeleton_maps(dataset.images, cache_dir, f"{dataset.name}-skeleton")
            spec = known.get(name) or ConditionSpec(name, ConditionKind.MAP, maps.shape[1])
            conds[name] = maps
        specs.append(spec)
    return dataclasses.replace(dataset, conds=conds), tuple(specs)


def _normalisation(name: str, raw: np.ndarray, fields: Sequence[str]) -> ConditionSpec:
    """A vector spec whose mean/std are those of ``raw`` (N, K), ignoring unmeasurable rows."""
    finite = raw[np.isfinite(raw).all(axis=1)]
    if len(finite) < 2:
        raise DataError(f"condition {name}: fewer than 2 images could be measured")
    mean, std = finite.mean(axis=0), finite.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ConditionSpec(
        name,
        ConditionKind.VECTOR,
        raw.shape[1],
        tuple(fields),
        tuple(float(m) for m in mean),
        tuple(float(s) for s in std if math.isfinite(s)),
    )


__all__ = ["ConditionedData", "attach_conditions", "default_cache_dir", "load_conditioned"]
