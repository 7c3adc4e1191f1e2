"""Condition adherence of a trained model, measured on samples exactly as on data.

For each named condition alone (the others null, the class label kept): request the condition of
``n`` real test images, sample one image per request, measure the samples with the extractor that
made the conditions (:mod:`trigen.eval.morpho`) and score them (:mod:`trigen.eval.adherence`):
attributes by MAE and correlation per attribute, maps by per-image skeleton F1 at a 1-pixel
tolerance (the ControlNet++ protocol); captions by R-precision and, on MNIST, class and bin
accuracy, overall and on held-out combinations (:mod:`trigen.measure.text_adherence`). Beside
each score:

- **real**: the real test images scored against their own conditions, through the same
  pipeline — the ceiling of this protocol (the extractor's agreement with itself);
- **chance**: the samples scored against *another* image's request (the requests rolled by one),
  what a model that ignores the condition would reach.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.data.datasets import ImageDataset
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError
from trigen.eval.adherence import attribute_adherence, map_f1, mean_with_interval
from trigen.eval.morpho import measure_attributes, skeleton_maps
from trigen.families.base import Family, SampleSpec
from trigen.measure.samples import generate
from trigen.measure.text_adherence import TextReference, text_requests, text_scores


def condition_adherence(
    family: Family,
    specs: tuple[ConditionSpec, ...],
    test: ImageDataset,
    sample: SampleSpec,
    *,
    n: int,
    seed: int = 0,
    batch_size: int = 128,
    class_conditional: bool = True,
    text: TextReference | None = None,
) -> dict[str, Any]:
    """``{condition name: scores}`` for each of ``specs``; ``test`` carries the conditions
    (attached with the run's own normalisation, captions tokenized by the run's tokenizer) and
    the labels of the requests; ``text`` judges a token condition (its captions as text)."""
    n = min(n, len(test))
    labels = test.labels[:n] if class_conditional else torch.zeros(n, dtype=torch.long)
    results: dict[str, Any] = {}
    for spec in specs:
        if spec.kind is ConditionKind.TOKENS:
            if text is None:
                raise ConfigError(f"condition {spec.name}: captions need a text matcher to judge")
            null = test.num_classes if class_conditional else 0
            results[spec.name] = _text(family, spec, test, sample, text, n, null, seed, batch_size)
            continue
        stored = test.conds[spec.name][:n]
        request = to_model_range(stored) if spec.kind is ConditionKind.MAP else stored
        images = generate(
            family, labels, sample, seed=seed, batch=batch_size, conds={spec.name: request}
        )
        real = test.images[:n]
        if spec.kind is ConditionKind.VECTOR:
            results[spec.name] = _vector_scores(spec, stored, images, real)
        else:
            results[spec.name] = _map_scores(stored, images, real)
        results[spec.name]["n"] = n
    return results


def _text(
    family: Family, spec: ConditionSpec, test: ImageDataset, sample: SampleSpec,
    text: TextReference, n: int, null: int, seed: int, batch_size: int,
) -> dict[str, Any]:  # fmt: skip
    """Text adherence: the captions of the first ``n`` test images and of ``n`` held-out ones,
    asked for with the class label ``null``."""
    index, first, held_out = text_requests(text, n)
    rows = torch.from_numpy(index)
    request = {spec.name: test.conds[spec.name][rows]}
    labels = torch.full((len(index),), null, dtype=torch.long)
    images = generate(family, labels, sample, seed=seed, batch=batch_size, conds=request)
    groups = {"": first} | ({"_held_out": held_out} if text.digits is not None else {})
    scores = text_scores(text, index, groups, images, test.images[rows], test.labels[rows])
    return {**scores, "n": int(first.sum()), "n_held_out": int(held_out.sum())}


def _vector_scores(
    spec: ConditionSpec, stored: torch.Tensor, samples: torch.Tensor, real: torch.Tensor
) -> dict[str, Any]:
    requested = spec.raw(stored.double()).numpy()  # raw units
    fields = list(spec.fields) or [f"{spec.name}[{i}]" for i in range(spec.size)]
    measured = measure_attributes(samples)
    return {
        "kind": "vector",
        "std": dict(zip(fields, spec.std, strict=True)) if spec.std else {},
        "samples": attribute_adherence(requested, measured, fields),
        "real": attribute_adherence(requested, measure_attributes(real), fields),
        "chance": attribute_adherence(np.roll(requested, 1, axis=0), measured, fields),
    }


def _map_scores(stored: torch.Tensor, samples: torch.Tensor, real: torch.Tensor) -> dict[str, Any]:
    extracted = skeleton_maps(samples)

    def scored(f1: np.ndarray) -> dict[str, Any]:
        mean, (low, high), count = mean_with_interval(f1)
        return {"f1": mean, "f1_interval": [low, high], "n": count}

    return {
        "kind": "map",
        "samples": scored(map_f1(extracted, stored)),
        "real": scored(map_f1(skeleton_maps(real), stored)),
        "chance": scored(map_f1(extracted, stored.roll(1, dims=0))),
    }


def summary_row(name: str, scores: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of one condition: thickness and slant MAE/corr, the map F1, or the
    caption's R-precision."""
    if scores["kind"] == "map":
        return {f"{name} F1": scores["samples"]["f1"]}
    if scores["kind"] == "text":
        return {f"{name} R-precision": scores["samples"]["r_precision"]["rate"]}
    row = {}
    for field in ("thickness", "slant"):
        if field in scores["samples"]:
            row[f"{field} MAE"] = scores["samples"][field]["mae"]
            row[f"{field} r"] = scores["samples"][field]["corr"]
    return row
