"""The adherence study of ``trigen compare`` with conditions: how closely each family's samples
follow the named conditions it was trained with.

For each family, the conditions of the first ``n`` test images are requested one condition at a
time and the samples scored as the data are (:func:`trigen.measure.adherence.condition_adherence`:
thickness and slant MAE and correlation, skeleton F1 at 1 px, each with a 95 % bootstrap interval,
beside the real test images, the ceiling, and the requests rolled by one, chance). The test split's
conditions are measured with the run's own normalisation. Grids that show the requested condition
beside the samples follow (:mod:`trigen.compare.adherence_grids`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trigen.compare.adherence_grids import GRID_FIELDS, attribute_grid, map_grid
from trigen.compare.measure import nfe_of
from trigen.compare.settings import CompareSettings
from trigen.conditions import ConditionKind, ConditionSpec
from trigen.config import FamilyName
from trigen.data.datasets import ImageDataset
from trigen.diffusion.samplers import nfe
from trigen.errors import ConfigError
from trigen.measure.adherence import condition_adherence
from trigen.measure.samples import sample_spec
from trigen.runs import Loaded

CONDITIONS_DIR = "conditions"  # under the comparison's cache: the test split's measured conditions


def check_dataset(s: CompareSettings, train: ImageDataset) -> None:
    """Refuse, before any training, a dataset the conditions cannot be measured on: the
    Morpho-MNIST attributes and skeletons are measured on grayscale digits."""
    channels = train.images.shape[1]
    if s.conditions and channels != 1:
        raise ConfigError(
            f"conditions {', '.join(s.conditions)} are measured on grayscale digits; "
            f"{s.dataset} has {channels} channels: use mnist or drop the conditions"
        )


def requests_per_condition(name: FamilyName, loaded: Loaded, s: CompareSettings) -> int:
    """``s.adherence_samples``, capped at ``s.adherence_samples_slow`` for a family that needs
    more network evaluations per image than the diffusion sampler does (one per token)."""
    c, h, w = loaded.data.image_shape
    slow = nfe_of(name, sample_spec(name, s), c * h * w) > nfe(s.sampler, s.sampling_steps)
    return min(s.adherence_samples, s.adherence_samples_slow) if slow else s.adherence_samples


def adherence_study(
    runs: dict[FamilyName, Loaded],
    test: ImageDataset,
    s: CompareSettings,
    out: Path,
    *,
    cache_dir: Path | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """``{"conditions", "families": {family: {"n", "scores"} or {"skipped"}}, "grids"}``; the
    grids are PNG files in ``out``, named relative to it."""
    from trigen.conditions_data import attach_conditions

    cache = None if cache_dir is None else Path(cache_dir) / CONDITIONS_DIR
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
            by_reference[specs], _ = attach_conditions(
                test, s.conditions, reference=specs, cache_dir=cache
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
        )
        families[name.value] = {"n": n, "scores": scores}
    grids = _grids(runs, asked, s, out)
    return {"conditions": list(s.conditions), "families": families, "grids": grids}


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
) -> list[dict[str, str]]:
    """One grid per family for its attribute vector (a row per requested value), and one grid
    of the requested map above every family's samples; ``{"title", "file"}`` each."""
    grids, mapped = [], {}
    for name, (specs, _) in asked.items():
        for spec in specs:
            if spec.kind is ConditionKind.VECTOR and set(GRID_FIELDS) & set(spec.fields):
                grids.append(attribute_grid(name, runs[name], spec, s, out))
            elif spec.kind is ConditionKind.MAP:
                mapped.setdefault(spec, {})[name] = runs[name]
    for spec, families in mapped.items():  # one map per comparison: its runs share the spec
        test = asked[next(iter(families))][1]
        grids.append(map_grid(families, spec, test, s, out))
    return grids
