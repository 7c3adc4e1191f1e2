"""The adherence study of ``trigen compare`` with conditions: how closely each family's samples
follow the named conditions it was trained with.

For each family, the conditions of the first ``n`` test images are requested one condition at a
time and the samples scored as the data are (:func:`trigen.measure.adherence.condition_adherence`:
thickness and slant MAE and correlation, skeleton F1 at 1 px, captions' R-precision and, on MNIST,
class and bin accuracy overall and on held-out combinations, each with a 95 % interval, beside the
real test images, the ceiling, and the requests rolled by one, chance). The test split's
conditions are measured with the run's own normalisation, its captions tokenized by the run's own
tokenizer; captions are judged by a text matcher trained once per comparison on the captioned
training split (:mod:`trigen.eval.text_match`, cached like the domain classifier). Grids that show
the requested condition beside the samples follow (:mod:`trigen.compare.adherence_grids`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trigen.compare.adherence_grids import GRID_FIELDS, attribute_grid, map_grid, text_grid
from trigen.compare.settings import CompareSettings
from trigen.compare.text import TEXT, CaptionedTest, captioned_test
from trigen.conditions import ConditionKind, ConditionSpec
from trigen.config import CAPTIONED_DATASETS, CONDITION_SOURCES, FamilyName
from trigen.data.datasets import ImageDataset
from trigen.diffusion.samplers import nfe
from trigen.errors import ConfigError
from trigen.eval.domain import DomainClassifier
from trigen.measure.adherence import condition_adherence
from trigen.measure.samples import sample_spec
from trigen.runs import Loaded

CONDITIONS_DIR = "conditions"  # under the comparison's cache: the test split's measured conditions


def check_dataset(s: CompareSettings, train: ImageDataset) -> None:
    """Refuse, before any training, a dataset the conditions cannot be measured on: the
    Morpho-MNIST attributes and skeletons are measured on grayscale digits, and captions come
    with a captioned dataset only."""
    channels = train.images.shape[1]
    measured = [name for name in s.conditions if CONDITION_SOURCES[name] != ConditionKind.TOKENS]
    if measured and channels != 1:
        raise ConfigError(
            f"conditions {', '.join(measured)} are measured on grayscale digits; "
            f"{s.dataset} has {channels} channels: use mnist or drop the conditions"
        )
    if TEXT in s.conditions and s.dataset not in CAPTIONED_DATASETS:
        raise ConfigError(
            f"dataset {s.dataset} has no captions; text needs one of: "
            f"{', '.join(CAPTIONED_DATASETS)}"
        )


def requests_per_condition(name: FamilyName, loaded: Loaded, s: CompareSettings) -> int:
    """``s.adherence_samples``, capped at ``s.adherence_samples_slow`` for a family that needs
    more network evaluations per image than the diffusion sampler does (one per token)."""
    per_image = loaded.family.nfe(sample_spec(name, s), loaded.data.image_shape)
    slow = per_image > nfe(s.sampler, s.sampling_steps)
    return min(s.adherence_samples, s.adherence_samples_slow) if slow else s.adherence_samples


def adherence_study(
    runs: dict[FamilyName, Loaded],
    test: ImageDataset,
    s: CompareSettings,
    out: Path,
    *,
    cache_dir: Path | None,
    log: Callable[[str], None],
    domain: DomainClassifier | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """``{"conditions", "families": {family: {"n", "scores"} or {"skipped"}}, "grids"}`` and,
    with captions, ``"text_matcher"`` (its own test R-precision); the grids are PNG files in
    ``out``, named relative to it. ``domain`` judges the class a caption asks for."""
    from trigen.conditions_data import attach_conditions

    cache = None if cache_dir is None else Path(cache_dir) / CONDITIONS_DIR
    text = captioned_test(s, cache_dir, domain, device, log) if TEXT in s.conditions else None
    if text is not None:
        test = text.test.dataset
    measured = [name for name in s.conditions if name != TEXT]
    families: dict[str, Any] = {}
    asked: dict[FamilyName, tuple[tuple[ConditionSpec, ...], ImageDataset]] = {}
    by_reference: dict[tuple[ConditionSpec, ...], ImageDataset] = {}
    for name, loaded in runs.items():
        specs = _specs(loaded, s.conditions)
        if isinstance(specs, str):
            families[name.value] = {"skipped": specs}
            log(f"[{name.value}] adherence skipped: {specs}")
            continue
        if specs not in by_reference:  # every run of one comparison shares its normalisation
            data = test if text is None else text.tokenized(specs)
            by_reference[specs], _ = attach_conditions(
                data, measured, reference=specs, cache_dir=cache
            )
        asked[name] = specs, by_reference[specs]
        n = requests_per_condition(name, loaded, s)
        log(f"[{name.value}] adherence to {', '.join(s.conditions)} on {n} test requests each")
        scores = condition_adherence(
            loaded.family,
            specs,
            by_reference[specs],
            sample_spec(name, s),
            n=n,
            seed=s.seed,
            batch_size=s.sample_batch_size,
            class_conditional=loaded.data.num_classes > 0,
            text=None if text is None else text.reference,
        )
        families[name.value] = {"n": n, "scores": scores}
    grids = _grids(runs, asked, s, out, text)
    study = {"conditions": list(s.conditions), "families": families, "grids": grids}
    return study | ({"text_matcher": text.summary()} if text is not None else {})


def _specs(loaded: Loaded, names: tuple[str, ...]) -> tuple[ConditionSpec, ...] | str:
    """The run's specs of ``names`` in that order, or why the run cannot be asked for them (a
    reused checkpoint trained without one)."""
    known = {spec.name: spec for spec in loaded.data.conditions}
    missing = [name for name in names if name not in known]
    if missing:
        return f"the run was trained without {', '.join(missing)}"
    return tuple(known[name] for name in names)


def _grids(
    runs: dict[FamilyName, Loaded],
    asked: dict[FamilyName, tuple[tuple[ConditionSpec, ...], ImageDataset]],
    s: CompareSettings,
    out: Path,
    text: CaptionedTest | None,
) -> list[dict[str, str]]:
    """One grid per family for its attribute vector (a row per requested value) and for its
    captions (a row per prompt), and one grid of the requested map above every family's
    samples; ``{"title", "file"}`` each."""
    grids, mapped = [], {}
    for name, (specs, _) in asked.items():
        for spec in specs:
            if spec.kind is ConditionKind.VECTOR and set(GRID_FIELDS) & set(spec.fields):
                grids.append(attribute_grid(name, runs[name], spec, s, out))
            elif spec.kind is ConditionKind.TOKENS and text is not None:
                grids.append(text_grid(name, runs[name], spec, text.test, s, out))
            elif spec.kind is ConditionKind.MAP:
                mapped.setdefault(spec, {})[name] = runs[name]
    for spec, families in mapped.items():  # one map per comparison: its runs share the spec
        test = asked[next(iter(families))][1]
        grids.append(map_grid(families, spec, test, s, out))
    return grids
