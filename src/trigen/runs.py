"""Runs on disk: a checkpoint loaded back into the family it trained, and what a family does
once its run is written or loaded.

Reading a checkpoint with its config and data (:func:`~trigen.build.read_run`) and the frozen
tokenizer and autoencoder runs a family builds on live in :mod:`trigen.build`, beside the
registry that builds through them; this module builds on those. :mod:`trigen.api` re-exports
:class:`Loaded` and :func:`load`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trigen.build import LIVE_WEIGHTS, DataSpec, SavedRun, build_family, load_autoencoder, read_run
from trigen.config import FamilyName, TrainConfig
from trigen.device import resolve_device
from trigen.errors import CheckpointError
from trigen.families.base import Family
from trigen.train import checkpoint as ckpt_io

EMA_WEIGHTS = "ema.safetensors"


@dataclass
class Loaded:
    """A family rebuilt from a checkpoint, with the config and data it was trained on."""

    family: Family
    config: TrainConfig
    data: DataSpec
    step: int
    images_seen: int


TrainAndLoad = Callable[[TrainConfig, Path], tuple[Loaded, dict[str, Any]]]
"""Trains a config into a run directory (or reuses what is there) → (loaded family, training
summary as JSON): how a comparison's studies and claims train their own runs."""
ConfigFor = Callable[..., TrainConfig]
"""``config_for(family, **changes)``: a comparison's recipe for a family, with changes."""


def load(
    path: Path,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
    on_warning: Callable[[str], None] | None = None,
) -> Loaded:
    """Rebuild the family of a checkpoint (or of a run directory's newest valid one).

    Newer checkpoints of a run directory that fail verification are skipped, each reported
    through ``on_warning``.
    """
    run = read_run(Path(path), warn=on_warning)
    family = build_family(run.config, run.data, resolve_device(device))
    weights = EMA_WEIGHTS if ema else LIVE_WEIGHTS
    ckpt_io.load_weights(family.net, run.checkpoint.tensors[weights], f"checkpoint {path}")
    family.net.eval()
    after_loading(family, run, weights)
    return Loaded(family, run.config, run.data, run.checkpoint.step, run.checkpoint.images_seen)


def after_loading(family: Family, run: SavedRun, weights: str) -> None:
    """A family's step once ``weights`` of ``run`` are loaded into it: a KL autoencoder decodes
    latents of the data's spread, so it takes its scale factor (cached)."""
    from trigen.latent_scale import autoencoder_scale_factor

    if run.config.family is FamilyName.KLVAE:
        resolution = run.data.image_shape[1]
        scale = autoencoder_scale_factor(run.directory, weights, family.net, run.config, resolution)
        family.scale_factor = scale


def after_training(cfg: TrainConfig, checkpoint: Path, device: torch.device | str) -> None:
    """A family's step once its run wrote its last checkpoint: a KL autoencoder measures and
    caches its latent scale factor there (so latent runs and ``load`` find it)."""
    if cfg.family is FamilyName.KLVAE:
        load_autoencoder(checkpoint, device)


def autoencoder_channels(path: str | Path) -> int:
    """Image channels the autoencoder at ``path`` takes (read from its config, nothing loaded)."""
    from trigen.interop.common import read_json
    from trigen.interop.diffusers_vae import is_diffusers_vae

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"autoencoder {path} does not exist: check the path")
    try:
        if is_diffusers_vae(path):
            return int(read_json(path / "config.json").get("in_channels", 3))
        state = read_json(ckpt_io.resolve(path) / ckpt_io.STATE_FILE)
        return int(state["extra"]["meta"]["data"]["image_shape"][0])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path}: cannot tell the autoencoder's image channels") from None
