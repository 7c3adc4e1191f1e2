"""A diffusers ``AutoencoderKL`` directory (the SD-VAE layout) as a trigen :class:`LatentCodec`.

The directory holds ``config.json`` (``_class_name`` "AutoencoderKL") and the weights, as
``save_pretrained`` writes them. diffusers is imported only when a directory is loaded. The scale
factor is the directory's own ``scaling_factor`` (0.18215 for the SD-VAE that DiT used), and a
``shift_factor`` (SD3/FLUX VAEs) is subtracted first when the config has one.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from trigen.errors import CheckpointError, DataError
from trigen.interop.common import WEIGHT_FILES, read_json, require

DIFFUSERS_CLASS = "AutoencoderKL"
"""``_class_name`` of the diffusers configs this module loads."""


def is_diffusers_vae(path: str | Path) -> bool:
    """True when ``path`` is a directory whose config.json names an ``AutoencoderKL``."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("_class_name") == DIFFUSERS_CLASS
    except (OSError, ValueError, AttributeError):
        return False


def _fingerprint(directory: Path) -> str:
    """sha256 over config.json and the weight file(s): what a latent cache is keyed by."""
    digest = hashlib.sha256((directory / "config.json").read_bytes())
    for name in sorted(p.name for p in directory.iterdir()):
        if name in WEIGHT_FILES or name.endswith((".safetensors", ".bin")):
            with (directory / name).open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


@dataclass
class DiffusersVAECodec:
    """Scaled latents z = (E(x).mean − shift)·scale ↔ images, with a frozen ``AutoencoderKL``."""

    vae: nn.Module
    scale_factor: float
    shift_factor: float
    fingerprint: str

    @property
    def in_channels(self) -> int:
        return int(self.vae.config.in_channels)

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def encode(
        self, images: Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        dist = self.vae.encode(images).latent_dist
        z = dist.mean
        if sample:
            noise = torch.randn(z.shape, generator=generator, device=z.device)
            z = z + dist.std * noise.to(z.dtype)
        return (z - self.shift_factor) * self.scale_factor

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        z = latents / self.scale_factor + self.shift_factor
        return self.vae.decode(z).sample.clamp(-1, 1)

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        c, h, w = image_shape
        d = self.downsample
        if c != self.in_channels or h % d or w % d:
            raise DataError(
                f"this AutoencoderKL takes {self.in_channels}-channel images with sides "
                f"divisible by {d}, got {image_shape}"
            )
        return int(self.vae.config.latent_channels), h // d, w // d


def _factor(config: dict[str, Any], key: str, default: float | None, source: Path) -> float:
    value = config.get(key, default)
    if value is None:
        raise CheckpointError(f"{source}/config.json has no {key}; add the VAE's {key}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CheckpointError(f"{source}/config.json has a non-numeric {key}: {value!r}")
    return float(value)


def load_diffusers_vae(
    directory: str | Path, device: torch.device | str = "cpu"
) -> DiffusersVAECodec:
    """The ``AutoencoderKL`` saved in ``directory``, frozen in eval mode on ``device``."""
    directory = Path(directory)
    config = read_json(directory / "config.json")
    if config is None or config.get("_class_name") != DIFFUSERS_CLASS:
        raise CheckpointError(
            f"{directory} is not a diffusers AutoencoderKL directory (config.json with "
            f'"_class_name": "{DIFFUSERS_CLASS}")'
        )
    scale = _factor(config, "scaling_factor", None, directory)
    if scale <= 0:
        raise CheckpointError(f"{directory}/config.json has scaling_factor {scale}; it must be > 0")
    shift = config.get("shift_factor")
    shift = 0.0 if shift is None else _factor(config, "shift_factor", 0.0, directory)
    diffusers = require("diffusers")
    try:
        vae = diffusers.AutoencoderKL.from_pretrained(str(directory))
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot load AutoencoderKL from {directory}: {first}") from None
    vae = vae.to(device).eval().requires_grad_(False)
    return DiffusersVAECodec(vae, scale, shift, _fingerprint(directory))
