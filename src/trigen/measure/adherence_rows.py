"""Condition adherence request by request: the rows behind the adherence scores, for a decider
that resamples them.

:func:`trigen.measure.adherence.condition_adherence` summarises each condition by its means and
intervals; comparing mechanisms needs the rows behind them, paired by request, so that the same
requests can be resampled for every model. The protocol: the condition of each of the first
``n`` test images is requested alone (every other condition null, and the class label null too:
a kept label would carry the digit's shape into the score), one sample drawn per request and
measured by the extractor that made the conditions (:mod:`trigen.eval.morpho`). Beside the
samples, the real test images measured the same way (the protocol's ceiling) and, for maps, the
samples scored against the requests rolled by one (chance); a vector's chance is computed from
its rows (the measured values against the rolled requested ones).
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


def ceiling_rows(
    spec: ConditionSpec, test: ImageDataset, n: int, fields: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """What does not depend on the model, for the first ``n`` test images: a vector's requested
    ``fields`` in raw units and the real images' measurements of them, ``{"requested",
    "real"}`` (n, K) each; a map's real images scored against their own maps, ``{"real"}``
    (F1 at 1 px, (n,))."""
    real = test.images[:n]
    if spec.kind is ConditionKind.VECTOR:
        columns = _columns(spec, fields)
        requested = spec.raw(test.conds[spec.name][:n].double()).numpy()[:, columns]
        return {"requested": requested, "real": measure_attributes(real)[:, columns]}
    if spec.kind is ConditionKind.MAP:
        return {"real": map_f1(skeleton_maps(real), test.conds[spec.name][:n])}
    raise ConfigError(f"condition {spec.name}: per-request rows measure vectors and maps")


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
) -> dict[str, np.ndarray]:
    """One sample per request of ``spec`` (the first ``n`` test images' conditions, the class
    label ``null_class``), measured: a vector's ``fields`` ``{"samples"}`` (n, K, raw units,
    NaN where a sample has nothing to measure); a map's F1 at 1 px against the requests and
    against the requests rolled by one, ``{"samples", "chance"}`` (n,) each."""
    stored = test.conds[spec.name][:n]
    request = to_model_range(stored) if spec.kind is ConditionKind.MAP else stored
    labels = torch.full((len(stored),), null_class, dtype=torch.long)
    images = generate(
        family, labels, sample, seed=seed, batch=batch_size, conds={spec.name: request}
    )
    if spec.kind is ConditionKind.VECTOR:
        return {"samples": measure_attributes(images)[:, _columns(spec, fields)]}
    extracted = skeleton_maps(images)
    return {
        "samples": map_f1(extracted, stored),
        "chance": map_f1(extracted, stored.roll(1, dims=0)),
    }


def _columns(spec: ConditionSpec, fields: Sequence[str]) -> list[int]:
    """The columns of ``fields`` in a vector measured by :func:`measure_attributes`."""
    missing = [f for f in fields if f not in spec.fields]
    if missing or not fields:
        raise ConfigError(
            f"condition {spec.name} has the fields {', '.join(spec.fields)}; asked for "
            f"{', '.join(fields) or 'none'}"
        )
    return [spec.fields.index(f) for f in fields]
