"""Condition adherence request by request: the rows behind the adherence scores, for a decider
that resamples them.

:func:`trigen.measure.adherence.condition_adherence` summarises each condition by its means and
intervals; comparing mechanisms needs the rows behind them, paired by request, so that the same
requests can be resampled for every model. The protocol: the condition of each of the first
``n`` test images is requested alone (every other condition null, and the class label null too:
a kept label would carry the digit's shape into the score), one sample drawn per request and
measured by the extractor that made the conditions (:mod:`trigen.eval.morpho`). Beside the
samples, the real test images measured the same way (the protocol's ceiling) and, for maps and
captions, the samples scored against the requests rolled by one (chance); a vector's chance is
computed from its rows (the measured values against the rolled requested ones). A caption is
scored by its R-precision hit (:mod:`trigen.measure.text_adherence`: the requested caption
ranked first among 100 by the in-domain text matcher).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.data.datasets import ImageDataset
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError
from trigen.eval.adherence import map_f1
from trigen.eval.morpho import measure_attributes, skeleton_maps
from trigen.families.base import Family, SampleSpec
from trigen.measure.samples import generate
from trigen.measure.text_adherence import TextReference, text_rows


def ceiling_rows(
    spec: ConditionSpec,
    test: ImageDataset,
    n: int,
    fields: Sequence[str] = (),
    text: TextReference | None = None,
) -> dict[str, np.ndarray]:
    """What does not depend on the model, for the first ``n`` test images: a vector's requested
    ``fields`` in raw units and the real images' measurements of them, ``{"requested",
    "real"}`` (n, K) each; a map's real images scored against their own maps, ``{"real"}``
    (F1 at 1 px, (n,)); a caption's real images' R-precision hits, ``{"real"}`` (n,), judged
    by ``text`` (the test split's captions, aligned with ``test``)."""
    real = test.images[:n]
    if spec.kind is ConditionKind.TOKENS:
        return {"real": _hits(_judge(text, spec), test, real)["real"]}
    if spec.kind is ConditionKind.VECTOR:
        columns = _columns(spec, fields)
        requested = spec.raw(test.conds[spec.name][:n].double()).numpy()[:, columns]
        return {"requested": requested, "real": measure_attributes(real)[:, columns]}
    if spec.kind is ConditionKind.MAP:
        return {"real": map_f1(skeleton_maps(real), test.conds[spec.name][:n])}
    raise ConfigError(f"condition {spec.name}: no per-request rows for a {spec.kind} condition")


def sample_rows(
    family: Family,
    spec: ConditionSpec,
    test: ImageDataset,
    sample: SampleSpec,
    *,
    n: int,
    fields: Sequence[str] = (),
    seed: int,
    batch_size: int,
    null_class: int,
    text: TextReference | None = None,
) -> dict[str, np.ndarray]:
    """One sample per request of ``spec`` (the first ``n`` test images' conditions, the class
    label ``null_class``), measured: a vector's ``fields`` ``{"samples"}`` (n, K, raw units,
    NaN where a sample has nothing to measure); a map's F1 at 1 px against the requests and
    against the requests rolled by one, ``{"samples", "chance"}`` (n,) each; a caption's
    R-precision hits likewise, judged by ``text``."""
    judge = _judge(text, spec) if spec.kind is ConditionKind.TOKENS else None
    stored = test.conds[spec.name][:n]
    request = to_model_range(stored) if spec.kind is ConditionKind.MAP else stored
    labels = torch.full((len(stored),), null_class, dtype=torch.long)
    images = generate(
        family, labels, sample, seed=seed, batch=batch_size, conds={spec.name: request}
    )
    if spec.kind is ConditionKind.VECTOR:
        return {"samples": measure_attributes(images)[:, _columns(spec, fields)]}
    if judge is not None:
        hits = _hits(judge, test, images)
        return {"samples": hits["samples"], "chance": hits["chance"]}
    extracted = skeleton_maps(images)
    return {
        "samples": map_f1(extracted, stored),
        "chance": map_f1(extracted, stored.roll(1, dims=0)),
    }


def _judge(text: TextReference | None, spec: ConditionSpec) -> TextReference:
    if text is None:
        raise ConfigError(f"condition {spec.name}: captions need a text matcher to judge")
    return text


def _hits(text: TextReference, test: ImageDataset, images: torch.Tensor) -> dict[str, np.ndarray]:
    """R-precision hits (n,) float of ``images`` asked for the first n test captions, of the
    real test images and of ``images`` against the requests rolled by one."""
    index = np.arange(len(images))
    rows = text_rows(text, index, images, test.images[index], test.labels[index])
    return {part: scores["r_precision"].astype(np.float64) for part, scores in rows.items()}


def _columns(spec: ConditionSpec, fields: Sequence[str]) -> list[int]:
    """The columns of ``fields`` in a vector measured by :func:`measure_attributes`."""
    missing = [f for f in fields if f not in spec.fields]
    if missing or not fields:
        raise ConfigError(
            f"condition {spec.name} has the fields {', '.join(spec.fields)}; asked for "
            f"{', '.join(fields) or 'none'}"
        )
    return [spec.fields.index(f) for f in fields]
