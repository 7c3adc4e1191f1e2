"""Config → (network, family): the only name → class registry in trigen."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trigen.atomic import atomic_write_text
from trigen.config import FamilyName, TrainConfig
from trigen.errors import ConfigError
from trigen.families.base import Family


@dataclass(frozen=True)
class DataSpec:
    """What a family must know of its data: shape (C, H, W) and class count (0 = unconditional)."""

    image_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        c, h, w = data["image_shape"]
        return cls((int(c), int(h), int(w)), int(data["num_classes"]), tuple(data["class_names"]))


def _diffusion_family(
    net: torch.nn.Module, cfg: TrainConfig, spec: DataSpec, **options: Any
) -> Family:
    from trigen.diffusion.precond import Objective, parse_objective
    from trigen.diffusion.process import parse_prediction
    from trigen.diffusion.schedules import FlowSchedule, NoiseSchedule
    from trigen.families.diffusion import DiffusionFamily

    opts = cfg.diffusion
    flow = parse_objective(opts.objective) is Objective.FLOW  # schedule, min-SNR: diffusion's
    return DiffusionFamily(
        net=net,
        schedule=FlowSchedule(opts.flow_time, opts.logit_mean, opts.logit_std)
        if flow
        else NoiseSchedule.from_kind(opts.schedule),
        prediction=parse_prediction(opts.prediction),
        num_classes=spec.num_classes,
        image_shape=spec.image_shape,
        label_dropout=cfg.label_dropout,
        min_snr_gamma=None if flow else opts.min_snr_gamma,
        **options,
    )


def latent_diffusion_family(
    net: torch.nn.Module, codec, cfg: TrainConfig, spec: DataSpec
) -> Family:
    """Diffusion by ``net`` in the latent space of ``codec`` for images ``spec``; samples decode
    to images. Also the official-DiT path (:func:`trigen.api.load_official_latent_dit`)."""
    from trigen.families.latent import LatentDiffusionFamily

    latent = DataSpec(codec.latent_shape(spec.image_shape), spec.num_classes, spec.class_names)
    # latents have unit variance but no bounds: clamping x̂₀ to [-1, 1] would clip them
    diffusion = _diffusion_family(net, cfg, latent, data_range=None, clip_denoised=False)
    return LatentDiffusionFamily(net, diffusion, codec, spec.num_classes, spec.image_shape)


# ------------------------------------------------------------------------------ the networks
def _unet(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.models.unet import UNet, unet_config

    c, h, _ = spec.image_shape
    return UNet(unet_config(cfg.preset, input_size=h, in_channels=c, **_common(cfg, spec)))


def _dit(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.models.dit import DiT, dit_config

    c, h, _ = spec.image_shape
    return DiT(dit_config(cfg.preset, input_size=h, in_channels=c, **_common(cfg, spec)))


def _pixel_transformer(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.models.ar_transformer import ARTransformer, ar_config

    return ARTransformer(ar_config(cfg.preset, image_shape=spec.image_shape, **_common(cfg, spec)))


def _token_transformer(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    """The AR transformer over the code grid of ``cfg.tokenizer``."""
    from trigen.models.ar_transformer import ARTransformer, ar_config

    return ARTransformer(ar_config(cfg.preset, **_token_grid(cfg), **_common(cfg, spec)))


def _pixelcnn(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.models.pixelcnn import PixelCNN, pixelcnn_config

    c, h, _ = spec.image_shape
    return PixelCNN(pixelcnn_config(cfg.preset, input_size=h, in_channels=c, **_common(cfg, spec)))


def _vqvae(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.tokenizers.vqvae import VQVAE, vq_config

    c, h, _ = spec.image_shape
    return VQVAE(vq_config(cfg.preset, in_channels=c, image_size=h, **cfg.model_overrides))


def _klvae(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    from trigen.tokenizers.autoencoder import KLAutoencoder, kl_config

    c, h, _ = spec.image_shape
    return KLAutoencoder(kl_config(cfg.preset, in_channels=c, image_size=h, **cfg.model_overrides))


def _maskgit(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    """MaskGIT over pixels, or over the code grid of ``cfg.tokenizer`` when one is set."""
    from trigen.models.maskgit import MaskGIT, maskgit_config

    data = _token_grid(cfg) if cfg.tokenizer else {"image_shape": spec.image_shape}
    return MaskGIT(maskgit_config(cfg.preset, **data, **_common(cfg, spec)))


def _common(cfg: TrainConfig, spec: DataSpec) -> dict[str, Any]:
    """What every conditional network takes: the class count, then the user's overrides."""
    return {"num_classes": spec.num_classes, **cfg.model_overrides}


def _token_grid(cfg: TrainConfig) -> dict[str, Any]:
    """The token grid (h, w, 1) and vocabulary of ``cfg.tokenizer``'s codes."""
    tokenizer = load_tokenizer(cfg.tokenizer)
    h, w = tokenizer.token_grid
    return {"grid": (h, w, 1), "vocab_size": tokenizer.codebook_size}


# ------------------------------------------------------------------------------ the families
def _diffusion(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    return _diffusion_family(net, cfg, spec)


def _pixel_ar(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.autoregressive import AutoregressiveFamily

    return AutoregressiveFamily(net, spec.num_classes, spec.image_shape, cfg.label_dropout)


def _pixelcnn_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.pixelcnn import PixelCNNFamily

    return PixelCNNFamily(net, spec.num_classes, spec.image_shape, cfg.label_dropout)


def _token_ar(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.autoregressive import VQTokenFamily

    tokenizer = load_tokenizer(cfg.tokenizer, device)
    return VQTokenFamily(net, tokenizer, spec.num_classes, spec.image_shape, cfg.label_dropout)


def _maskgit_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.maskgit import MaskGITFamily, MaskGITVQFamily

    if not cfg.tokenizer:
        return MaskGITFamily(net, spec.num_classes, spec.image_shape, cfg.label_dropout)
    tokenizer = load_tokenizer(cfg.tokenizer, device)
    return MaskGITVQFamily(net, tokenizer, spec.num_classes, spec.image_shape, cfg.label_dropout)


def _tokenizer_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.tokenizer import TokenizerFamily

    return TokenizerFamily(net=net, num_classes=spec.num_classes, image_shape=spec.image_shape)


def _autoencoder_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.autoencoder import AutoencoderFamily

    return AutoencoderFamily(net, net.cfg, spec.num_classes, spec.image_shape)


@dataclass(frozen=True)
class Builder:
    """How one family name becomes a model: ``network(cfg, spec)`` sized for the data, and
    ``family(net, cfg, spec, device)``, the math that trains and samples it."""

    network: Callable[[TrainConfig, DataSpec], torch.nn.Module]
    family: Callable[[torch.nn.Module, TrainConfig, DataSpec, Any], Family]


BUILDERS: dict[FamilyName, Builder] = {
    FamilyName.UNET: Builder(_unet, _diffusion),
    FamilyName.DIT: Builder(_dit, _diffusion),
    FamilyName.AR: Builder(_pixel_transformer, _pixel_ar),
    FamilyName.PIXELCNN: Builder(_pixelcnn, _pixelcnn_family),
    FamilyName.VQ: Builder(_token_transformer, _token_ar),
    FamilyName.MASKGIT: Builder(_maskgit, _maskgit_family),
    FamilyName.VQVAE: Builder(_vqvae, _tokenizer_family),
    FamilyName.KLVAE: Builder(_klvae, _autoencoder_family),
}
"""Family name → builder: the only name → class registry in trigen."""


def _builder(cfg: TrainConfig) -> Builder:
    if cfg.family not in BUILDERS:
        raise ConfigError(f"family {cfg.family.value!r} cannot be built from a preset alone")
    return BUILDERS[cfg.family]


def build_network(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    """The network named by ``cfg.family`` / ``cfg.preset``, sized for ``spec``."""
    return _builder(cfg).network(cfg, spec)


def load_tokenizer(path: str | None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The frozen VQ-VAE of a ``vqvae`` training run (its live weights: the codebook is an EMA)."""
    from trigen.train import checkpoint as ckpt_io

    if not path:
        raise ConfigError("family vq needs a trained tokenizer: --set tokenizer=<vqvae run dir>")
    ckpt = ckpt_io.load(Path(path))
    cfg = TrainConfig.from_dict(ckpt.config)
    if cfg.family is not FamilyName.VQVAE:
        raise ConfigError(f"{path} is a {cfg.family.value} run, not a vqvae tokenizer")
    spec = DataSpec.from_dict(ckpt.extra["meta"]["data"])
    net = build_network(cfg, spec)
    ckpt_io.load_weights(net, ckpt.tensors["model.safetensors"], f"tokenizer {path}")
    return net.to(device).eval().requires_grad_(False)


def build_family(cfg: TrainConfig, spec: DataSpec, device: torch.device | str = "cpu") -> Family:
    """Network + the math that trains and samples it, on ``device``. A U-Net or DiT with
    ``cfg.autoencoder`` works in that autoencoder's latent space."""
    if h_w_mismatch(spec):
        raise ConfigError(f"images must be square, got {spec.image_shape[1]}×{spec.image_shape[2]}")
    builder = _builder(cfg)
    if cfg.autoencoder and cfg.family in (FamilyName.UNET, FamilyName.DIT):
        codec = load_autoencoder(cfg.autoencoder, device)
        latent = DataSpec(codec.latent_shape(spec.image_shape), spec.num_classes, spec.class_names)
        net = builder.network(cfg, latent).to(device)
        return latent_diffusion_family(net, codec, cfg, spec)
    return builder.family(builder.network(cfg, spec).to(device), cfg, spec, device)


def h_w_mismatch(spec: DataSpec) -> bool:
    return spec.image_shape[1] != spec.image_shape[2]


LATENT_SCALE_FILE = "latent_scale.json"
"""Beside a klvae checkpoint's tensors: its latent scale factor per weights file, keyed by the
file's sha256 (written by :func:`autoencoder_scale_factor`)."""

_SCALE_FORMAT = "trigen-latent-scale-v1"


def checkpoint_dir(path: Path, warn=None) -> Path:
    """The checkpoint directory ``path`` names: itself, or a run directory's newest valid one."""
    from trigen.errors import CheckpointError
    from trigen.train import checkpoint as ckpt_io

    path = Path(path)
    if (path / ckpt_io.STATE_FILE).exists():
        return path
    found = ckpt_io.latest_valid(path / "checkpoints", warn=warn) or ckpt_io.latest_valid(path)
    if found is None:
        raise CheckpointError(f"no valid checkpoint found in {path}: pass a klvae run directory")
    return found


def autoencoder_scale_factor(
    ckpt_dir: Path, weights: str, net: torch.nn.Module, cfg: TrainConfig, spec: DataSpec
) -> float:
    """1 / std of ``net``'s latents (loaded from ``ckpt_dir/weights``) over a fixed subset of
    its training set; cached in ``ckpt_dir/latent_scale.json`` (rewritten atomically; a cache
    that cannot be written is skipped, the value is still returned)."""
    from trigen.data.datasets import load_dataset
    from trigen.tokenizers.autoencoder import SCALE_IMAGES, latent_scale_factor, scale_subset
    from trigen.train import checkpoint as ckpt_io

    digest = json.loads((ckpt_dir / ckpt_io.STATE_FILE).read_text())["sha256"][weights]
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
    data = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=spec.image_shape[1])
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


def load_autoencoder(path: str | Path | None, device: torch.device | str = "cpu"):
    """The frozen :class:`~trigen.tokenizers.autoencoder.LatentCodec` at ``path``: a klvae run
    directory or checkpoint (its live weights, with their computed scale factor), or a diffusers
    ``AutoencoderKL`` directory (config.json ``_class_name``; its own ``scaling_factor``)."""
    from trigen.errors import CheckpointError
    from trigen.interop.diffusers_vae import is_diffusers_vae, load_diffusers_vae
    from trigen.tokenizers.autoencoder import KLCodec
    from trigen.train import checkpoint as ckpt_io

    if not path:
        raise ConfigError("latent diffusion needs --set autoencoder=<klvae run dir or VAE dir>")
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"autoencoder {path} does not exist: check the path")
    if is_diffusers_vae(path):
        return load_diffusers_vae(path, device)
    if not path.is_dir():
        raise ConfigError(
            f"autoencoder {path} is a file; give a klvae run directory (or one of its "
            "checkpoints) or a diffusers AutoencoderKL directory"
        )
    ckpt_path = checkpoint_dir(path)
    ckpt = ckpt_io.load(ckpt_path)
    try:
        cfg = TrainConfig.from_dict(ckpt.config)
        spec = DataSpec.from_dict(ckpt.extra["meta"]["data"])
    except (KeyError, TypeError, ValueError, ConfigError):
        raise CheckpointError(f"{path} has an unreadable configuration") from None
    if cfg.family is not FamilyName.KLVAE:
        raise ConfigError(
            f"{path} is a {cfg.family.value} run, not a klvae autoencoder or a diffusers "
            "AutoencoderKL directory"
        )
    net = build_network(cfg, spec)
    ckpt_io.load_weights(net, ckpt.tensors["model.safetensors"], f"autoencoder {path}")
    net = net.to(device).eval().requires_grad_(False)
    weights = "model.safetensors"
    scale = autoencoder_scale_factor(ckpt_path, weights, net, cfg, spec)
    digest = json.loads((ckpt_path / ckpt_io.STATE_FILE).read_text())["sha256"][weights]
    return KLCodec(net, scale, digest)


def autoencoder_channels(path: str | Path) -> int:
    """Image channels the autoencoder at ``path`` takes (read from its config, nothing loaded)."""
    from trigen.errors import CheckpointError
    from trigen.interop.common import read_json
    from trigen.interop.diffusers_vae import is_diffusers_vae
    from trigen.train import checkpoint as ckpt_io

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"autoencoder {path} does not exist: check the path")
    try:
        if is_diffusers_vae(path):
            return int(read_json(path / "config.json").get("in_channels", 3))
        state = read_json(checkpoint_dir(path) / ckpt_io.STATE_FILE)
        return int(state["extra"]["meta"]["data"]["image_shape"][0])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path}: cannot tell the autoencoder's image channels") from None


def after_training(cfg: TrainConfig, checkpoint: Path, device: torch.device | str) -> None:
    """A family's step once its run wrote its last checkpoint: a KL autoencoder measures and
    caches its latent scale factor there (so latent runs and ``load`` find it)."""
    if cfg.family is FamilyName.KLVAE:
        load_autoencoder(checkpoint, device)


def after_loading(
    family: Family, cfg: TrainConfig, spec: DataSpec, checkpoint: Path, weights: str
) -> None:
    """A family's step once ``weights`` of ``checkpoint`` are loaded into it: a KL autoencoder
    decodes latents of the data's spread, so it takes its scale factor (cached)."""
    if cfg.family is FamilyName.KLVAE:
        where = checkpoint_dir(Path(checkpoint))
        family.scale_factor = autoencoder_scale_factor(where, weights, family.net, cfg, spec)
