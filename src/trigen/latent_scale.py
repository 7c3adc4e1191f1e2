"""A klvae checkpoint's latent scale factor, computed once and cached beside its tensors.

The factor is 1 / std of the autoencoder's latents over a fixed subset of its training set
(:func:`~trigen.tokenizers.autoencoder.latent_scale_factor`); ``latent_scale.json`` keeps it per
weights file, keyed by that file's sha256, so altered weights are measured afresh.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import torch

from trigen.atomic import atomic_write_text
from trigen.config import TrainConfig
from trigen.train import checkpoint as ckpt_io

LATENT_SCALE_FILE = "latent_scale.json"
"""Beside a klvae checkpoint's tensors: its latent scale factor per weights file."""

_SCALE_FORMAT = "trigen-latent-scale-v1"


def weights_digest(ckpt_dir: Path, weights: str) -> str:
    """The sha256 of ``ckpt_dir/weights`` as the checkpoint's state.json records it."""
    return json.loads((ckpt_dir / ckpt_io.STATE_FILE).read_text())["sha256"][weights]


def autoencoder_scale_factor(
    ckpt_dir: Path, weights: str, net: torch.nn.Module, cfg: TrainConfig, resolution: int
) -> float:
    """1 / std of ``net``'s latents (loaded from ``ckpt_dir/weights``) over a fixed subset of
    its training set at ``resolution`` px; cached in ``ckpt_dir/latent_scale.json`` (rewritten
    atomically; a cache that cannot be written is skipped, the value is still returned)."""
    from trigen.data.datasets import load_dataset
    from trigen.tokenizers.autoencoder import SCALE_IMAGES, latent_scale_factor, scale_subset

    digest = weights_digest(ckpt_dir, weights)
    cache_file = ckpt_dir / LATENT_SCALE_FILE
    try:
        cache = json.loads(cache_file.read_text())
        if not isinstance(cache, dict) or cache.get("format") != _SCALE_FORMAT:
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(weights)
    if isinstance(entry, dict) and entry.get("sha256") == digest:
        scale = entry.get("scale_factor")
        if isinstance(scale, float) and math.isfinite(scale) and scale > 0:
            return scale
    data = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=resolution)
    images = data.images[scale_subset(len(data))]
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    scale = latent_scale_factor(lambda x: net.posterior(x)[0], images, device=device)
    net.train(was_training)
    cache = {**cache, "format": _SCALE_FORMAT}
    cache[weights] = {
        "sha256": digest,
        "scale_factor": scale,
        "images": len(images),
        "of": f"{cfg.dataset} train images: the first {SCALE_IMAGES} of a seeded permutation",
    }
    # a read-only checkpoint still loads; the factor is recomputed next time
    with contextlib.suppress(OSError):
        atomic_write_text(cache_file, json.dumps(cache, indent=1))
    return scale
