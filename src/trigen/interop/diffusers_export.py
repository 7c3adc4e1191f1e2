"""Export trigen networks to diffusers ``save_pretrained`` directories and import them back.

A :class:`DiT` becomes a ``DiTTransformer2DModel`` and a :class:`UNet` a ``UNet2DModel``; the
translations and where the architectures differ are in :mod:`trigen.interop.diffusers_dit` and
:mod:`trigen.interop.diffusers_unet`. Export needs diffusers installed; import reads the
directory's ``config.json`` and weights itself (safetensors, or ``weights_only`` torch files),
so it works without diffusers.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from trigen.errors import CheckpointError, ConfigError
from trigen.interop import diffusers_dit, diffusers_unet
from trigen.interop.common import read_json, read_tensors
from trigen.models.dit import DiT
from trigen.models.unet import UNet

CONFIG_FILE = "config.json"


def to_diffusers(net: DiT | UNet) -> nn.Module:
    """The equivalent diffusers model of ``net`` (eval mode, float32, CPU), in memory."""
    if isinstance(net, DiT):
        return diffusers_dit.dit_to_diffusers(net)
    if isinstance(net, UNet):
        return diffusers_unet.unet_to_diffusers(net)
    raise ConfigError(f"only DiT and U-Net export to diffusers, not {type(net).__name__}")


def export_to_diffusers(net: DiT | UNet, directory: str | Path) -> Path:
    """Write ``net`` as a diffusers ``save_pretrained`` directory (safetensors + config.json).

    Refuses a directory that already has files in it, so nothing on disk is overwritten.
    Load it with ``DiTTransformer2DModel.from_pretrained`` / ``UNet2DModel.from_pretrained``.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} already exists and is not empty; choose a new directory")
    model = to_diffusers(net)  # before creating anything, so a refusal leaves no directory
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def import_from_diffusers(directory: str | Path) -> DiT | UNet:
    """A trigen network (CPU, float32) from a diffusers DiT or UNet2DModel directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a diffusers model directory")
    config = read_json(directory / CONFIG_FILE)
    if config is None:
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}; not a diffusers model directory")
    state = read_tensors(directory)
    name, source = config.get("_class_name"), str(directory)
    if name == diffusers_dit.CLASS_NAME:
        return diffusers_dit.dit_from_diffusers_state(config, state, source)
    if name == diffusers_unet.CLASS_NAME:
        return diffusers_unet.unet_from_diffusers_state(config, state, source)
    raise ConfigError(
        f"{directory} holds a diffusers {name!r}; trigen imports "
        f"{diffusers_dit.CLASS_NAME} and {diffusers_unet.CLASS_NAME}"
    )
