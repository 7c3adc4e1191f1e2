"""Sample grids that show the requested condition beside the samples (``trigen compare`` with
conditions): a row per requested attribute value, led by a stroke drawn with those values, the
requested maps above a row of samples from each family, and a row per requested caption labelled
with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.compare.settings import CompareSettings
from trigen.conditions import ConditionSpec
from trigen.config import FamilyName
from trigen.data.captioned import CaptionedDataset
from trigen.data.datasets import ImageDataset
from trigen.data.transforms import to_model_range
from trigen.measure.samples import sample_spec
from trigen.report.grids import save_grid, save_labelled_grid
from trigen.report.table import FAMILY_TITLES
from trigen.runs import Loaded
from trigen.sampling import sample_chunks

GRID_Z = (-1.5, -0.5, 0.5, 1.5)
"""The requested values of a grid's attribute, in training standard deviations from its mean:
they span the data at any resolution (thickness ≈ 1.5 to 4.5 px on MNIST at 28 px)."""
GRID_FIELDS = {"thickness": "px", "slant": "rad"}  # the attributes a grid varies, and their units
GRID_COLUMNS = 10  # samples per row: one per class (classes 0…9 on MNIST)
STROKE_LENGTH = 0.7  # the drawn reference stroke's length, as a fraction of the image height
PIXEL_MAX = 255
TEXT_COLUMNS = 8  # samples per prompt of a caption grid
HELD_OUT_ROWS = 4  # a caption grid's rows of held-out combinations (MNIST has four)
HELD_OUT_MARK = "* "  # leads the label of a held-out combination's row


def attribute_grid(
    name: FamilyName, loaded: Loaded, spec: ConditionSpec, s: CompareSettings, out: Path
) -> dict[str, str]:
    """Write ``adherence_<family>_<condition>.png``: a row per requested value of each of
    ``GRID_FIELDS`` (the other attributes at the training mean), one sample per class in it,
    led by a stroke drawn with the requested thickness and slant; returns its title and file."""
    fields = [f for f in GRID_FIELDS if f in spec.fields]
    requests = torch.zeros(len(fields) * len(GRID_Z), spec.size)  # normalised: 0 is the mean
    for row, (field, z) in enumerate((f, z) for f in fields for z in GRID_Z):
        requests[row, spec.fields.index(field)] = z
    labels = _labels(loaded, GRID_COLUMNS)
    conds = {spec.name: requests.repeat_interleave(len(labels), dim=0)}
    samples = _samples(name, loaded, labels.repeat(len(requests)), conds, s)
    raw = spec.raw(requests.double()).numpy()
    _, height, width = loaded.data.image_shape
    strokes = [
        stroke(height, width, *(_field(raw[row], spec, f) for f in ("thickness", "slant")))
        for row in range(len(requests))
    ]
    rows = np.split(samples, len(requests))
    led = [np.concatenate([first[None], row]) for first, row in zip(strokes, rows, strict=True)]
    grid = np.concatenate(led)
    file = f"adherence_{name.value}_{spec.name}.png"
    save_grid(grid, out / file, nrow=len(labels) + 1)
    asked = "; then ".join(
        f"{field} "
        + ", ".join(f"{raw[i, spec.fields.index(field)]:.2f}" for i in _rows(k))
        + f" {GRID_FIELDS[field]}"
        for k, field in enumerate(fields)
    )
    columns = f"classes 0–{len(labels) - 1}" if loaded.data.num_classes else "samples"
    title = (
        f"{FAMILY_TITLES.get(name.value, name.value)}: requested {asked} (a row each, other "
        f"attributes at the training mean); first column: a stroke drawn with the request; "
        f"then {columns}"
    )
    return {"title": title, "file": file}


def map_grid(
    runs: dict[FamilyName, Loaded], spec: ConditionSpec, test: ImageDataset,
    s: CompareSettings, out: Path,
) -> dict[str, str]:  # fmt: skip
    """Write ``adherence_<condition>.png``: the maps of the first test image of each class (top
    row) and a row of samples from each family in ``runs`` asked for them."""
    picked = _first_of_each_class(test, GRID_COLUMNS)
    stored = test.conds[spec.name][picked]  # uint8 (k, C, H, W) in {0, 255}
    rows = [stored.permute(0, 2, 3, 1).numpy()]
    for name, loaded in runs.items():
        labels = test.labels[picked] if loaded.data.num_classes else torch.zeros_like(picked)
        conds = {spec.name: to_model_range(stored)}
        rows.append(_samples(name, loaded, labels, conds, s))
    file = f"adherence_{spec.name}.png"
    save_grid(np.concatenate(rows), out / file, nrow=len(picked))
    below = ", ".join(FAMILY_TITLES.get(n.value, n.value) for n in runs)
    return {"title": f"Requested {spec.name} (top row), then the samples of {below}", "file": file}


def text_grid(
    name: FamilyName, loaded: Loaded, spec: ConditionSpec, test: CaptionedDataset,
    s: CompareSettings, out: Path,
) -> dict[str, str]:  # fmt: skip
    """Write ``adherence_<family>_<condition>.png``: a row of TEXT_COLUMNS samples per prompt,
    labelled with it: the caption of the first test image of each class (the first test images
    of a set without classes), then of the first held-out test image of each class not shown
    yet (MNIST holds out one combination per class it holds out), marked."""
    from trigen.text import tokenizer_for

    picked = _first_of_each_class(test.dataset, GRID_COLUMNS).tolist()
    held = [] if test.digits is None else np.flatnonzero(test.digits.held_out).tolist()
    labels = test.dataset.labels.tolist()
    extra: dict[int, int] = {}  # the first held-out image of each class (one per combination)
    for index in held:
        if index not in picked:
            extra.setdefault(labels[index], index)
    rows = picked + list(extra.values())[:HELD_OUT_ROWS]
    prompts = [test.captions[i] for i in rows]
    ids, _ = tokenizer_for(spec).encode(prompts, spec.size)
    null = loaded.data.num_classes  # the caption alone: the class label null (0 without classes)
    nulls = torch.full((len(rows) * TEXT_COLUMNS,), null, dtype=torch.long)
    conds = {spec.name: ids.repeat_interleave(TEXT_COLUMNS, dim=0)}
    samples = _samples(name, loaded, nulls, conds, s)
    marks = [HELD_OUT_MARK if i in held else "" for i in rows]
    file = f"adherence_{name.value}_{spec.name}.png"
    labelled = [mark + prompt for mark, prompt in zip(marks, prompts, strict=True)]
    save_labelled_grid(samples, labelled, out / file, nrow=TEXT_COLUMNS)
    title = (
        f"{FAMILY_TITLES.get(name.value, name.value)}: a row of samples per requested caption "
        f"(the class label null), captions of test images"
        + (f"; {HELD_OUT_MARK.strip()} marks a held-out combination" if any(marks) else "")
    )
    return {"title": title, "file": file}


def stroke(height: int, width: int, thickness: float, slant: float) -> np.ndarray:
    """uint8 (H, W, 1): a straight stroke ``thickness`` px wide leaning ``slant`` radians
    (positive: the top to the right, as :mod:`trigen.eval.morpho` measures slant), centred and
    ``STROKE_LENGTH`` of the height long, each pixel lit by the stroke's share of it."""
    y, x = np.mgrid[0:height, 0:width] + 0.5
    x, y = x - width / 2, y - height / 2
    across = x * np.cos(slant) + y * np.sin(slant)  # distance from the centre line
    along = x * np.sin(slant) - y * np.cos(slant)  # position along it, up positive
    cover = np.clip(max(thickness, 0.0) / 2 - np.abs(across) + 0.5, 0, 1)
    cover *= np.clip(STROKE_LENGTH * height / 2 - np.abs(along) + 0.5, 0, 1)
    return np.round(cover * PIXEL_MAX).astype(np.uint8)[..., None]


def _rows(k: int) -> range:
    """The grid rows of the ``k``-th varied attribute."""
    return range(k * len(GRID_Z), (k + 1) * len(GRID_Z))


def _field(values: np.ndarray, spec: ConditionSpec, field: str) -> float:
    return float(values[spec.fields.index(field)]) if field in spec.fields else 0.0


def _first_of_each_class(test: ImageDataset, most: int) -> Tensor:
    """Indices of the first test image of each class in class order (the first images of a
    dataset without classes), at most ``most``."""
    if not test.num_classes:
        return torch.arange(min(most, len(test)))
    firsts: dict[int, int] = {}
    for index, label in enumerate(test.labels.tolist()):
        firsts.setdefault(label, index)
        if len(firsts) == min(most, test.num_classes):
            break
    return torch.tensor([firsts[c] for c in sorted(firsts)])


def _labels(loaded: Loaded, columns: int) -> Tensor:
    """One class per column (the null class 0 of a model without classes)."""
    return torch.arange(columns) % max(loaded.data.num_classes, 1)


def _samples(
    name: FamilyName, loaded: Loaded, labels: Tensor, conds: dict[str, Tensor], s: CompareSettings
) -> np.ndarray:
    """uint8 (N, H, W, C) samples of ``loaded`` for ``labels`` and ``conds``, seeded."""
    chunks = sample_chunks(
        loaded.family,
        labels,
        sample_spec(name, s),
        seed=s.seed,
        batch_size=s.sample_batch_size,
        conds=conds,
    )
    return torch.cat([chunks[k] for k in sorted(chunks)]).cpu().numpy()
