"""Helpers shared by several commands: the torchrun context and writing a sample grid."""

from __future__ import annotations

import os
from pathlib import Path

from trigen import api
from trigen.cli.app import console
from trigen.cli.labels import parse_labels
from trigen.families.base import SampleSpec


def dist_from_launcher():
    """This process's place in a torchrun job (RANK, WORLD_SIZE, LOCAL_RANK); one process
    when not launched by torchrun. The only place trigen reads these variables."""
    from trigen.errors import ConfigError
    from trigen.train.distributed import DistContext

    try:
        rank = int(os.environ.get("RANK", "0"))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun"
        ) from None
    return DistContext(rank, world_size, local_rank)  # backend: from the device, in api.train


def write_samples(
    loaded: api.Loaded,
    spec: SampleSpec,
    *,
    labels: str | None,
    n: int,
    out: Path,
    seed: int,
    images_dir: Path | None = None,
    batch_size: int = 256,
    dist=None,
    progress=None,
    conds=None,
    row_labels: list[str] | None = None,
) -> None:
    """Sample and write the grid; under torchrun (``dist``) every rank samples its share of
    the chunks and rank 0 alone writes. ``progress(done, total)``: images drawn so far.
    ``conds``: named conditions, one row per image; requested maps are written beside the grid
    (``<out>-maps.png``, tile for tile). ``row_labels``: a label per grid row (the prompts)."""
    from trigen.data.transforms import from_model_range
    from trigen.report.grids import save_each, save_grid, save_labelled_grid
    from trigen.sampling import sample_sharded
    from trigen.train.distributed import SINGLE

    label_tensor = parse_labels(labels, loaded.data.num_classes, n)
    images = sample_sharded(
        loaded.family,
        label_tensor,
        spec,
        seed=seed,
        batch_size=batch_size,
        dist=dist or SINGLE,
        progress=progress,
        conds=conds,
    )
    if images is None:  # not rank 0
        return
    nrow = n if labels == "all" else min(len(images), 8)
    if row_labels:  # a row per prompt, labelled with it
        nrow = len(images) // len(row_labels)
        save_labelled_grid(images, row_labels, out, nrow=nrow)
    else:
        save_grid(images, out, nrow=nrow)
    for name, value in (conds or {}).items():
        if value.ndim == 4:  # a map: the requested condition, tile for tile beside the samples
            maps = from_model_range(value).permute(0, 2, 3, 1).numpy()
            path = save_grid(maps, out.with_name(f"{out.stem}-{name}.png"), nrow=nrow)
            console.print(f"wrote the requested {name} maps to {path}")
    if images_dir is not None:
        save_each(images, images_dir, label_tensor.numpy())
    console.print(f"wrote {len(images)} samples to {out}")
