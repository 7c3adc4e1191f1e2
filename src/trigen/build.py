"""Config → (network, family): the only name → class registry in trigen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trigen.conditions import ConditionSpec
from trigen.config import FamilyName, TrainConfig
from trigen.errors import CheckpointError, ConfigError
from trigen.families.base import Family
from trigen.train import checkpoint as ckpt_io
from trigen.train.checkpoint import Checkpoint


@dataclass(frozen=True)
class DataSpec:
    """What a family must know of its data: shape (C, H, W), class count (0 = no class label) and
    the named conditions it is trained with (with their normalisation; :mod:`trigen.conditions`).
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...] = ()
    conditions: tuple[ConditionSpec, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }
        if self.conditions:  # class-only runs keep the file they always had
            data["conditions"] = [spec.to_dict() for spec in self.conditions]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        c, h, w = data["image_shape"]
        conditions = tuple(ConditionSpec.from_dict(d) for d in data.get("conditions", ()))
        shape = (int(c), int(h), int(w))
        return cls(shape, int(data["num_classes"]), tuple(data["class_names"]), conditions)


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
        conditions=spec.conditions,
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

    grid = _token_grid(cfg, spec)
    return ARTransformer(ar_config(cfg.preset, **grid, **_common(cfg, spec)))


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

    data = _token_grid(cfg, spec) if cfg.tokenizer else {"image_shape": spec.image_shape}
    return MaskGIT(maskgit_config(cfg.preset, **data, **_common(cfg, spec)))


def _common(cfg: TrainConfig, spec: DataSpec) -> dict[str, Any]:
    """What every conditional network takes: the class count, the named conditions (when there
    are any), then the user's overrides."""
    conditions = {"conditions": spec.conditions} if spec.conditions else {}
    return {"num_classes": spec.num_classes, **conditions, **cfg.model_overrides}


def _token_grid(cfg: TrainConfig, spec: DataSpec) -> dict[str, Any]:
    """The token grid (h, w, 1) and vocabulary of ``cfg.tokenizer``'s codes, and the image side a
    map condition comes at (the codes' grid is smaller than the images)."""
    tokenizer = load_tokenizer(cfg.tokenizer)
    h, w = tokenizer.token_grid
    grid = {"grid": (h, w, 1), "vocab_size": tokenizer.codebook_size}
    return grid | ({"map_size": spec.image_shape[1]} if spec.conditions else {})


# ------------------------------------------------------------------------------ the families
def _diffusion(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    return _diffusion_family(net, cfg, spec)


def _pixel_ar(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.autoregressive import AutoregressiveFamily

    return AutoregressiveFamily(
        net, spec.num_classes, spec.image_shape, cfg.label_dropout, conditions=spec.conditions
    )


def _pixelcnn_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.pixelcnn import PixelCNNFamily

    return PixelCNNFamily(
        net, spec.num_classes, spec.image_shape, cfg.label_dropout, conditions=spec.conditions
    )


def _token_ar(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.autoregressive import VQTokenFamily

    tokenizer = load_tokenizer(cfg.tokenizer, device)
    return VQTokenFamily(
        net, tokenizer, spec.num_classes, spec.image_shape, cfg.label_dropout,
        conditions=spec.conditions,
    )  # fmt: skip


def _maskgit_family(net, cfg: TrainConfig, spec: DataSpec, device) -> Family:
    from trigen.families.maskgit import MaskGITFamily, MaskGITVQFamily

    shared = dict(conditions=spec.conditions)
    if not cfg.tokenizer:
        return MaskGITFamily(net, spec.num_classes, spec.image_shape, cfg.label_dropout, **shared)
    tokenizer = load_tokenizer(cfg.tokenizer, device)
    return MaskGITVQFamily(
        net, tokenizer, spec.num_classes, spec.image_shape, cfg.label_dropout, **shared
    )


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


# ----------------------------------------------------------------------- the runs it builds on
# A vq or maskgit network is sized by its tokenizer's code grid and a latent family wraps an
# autoencoder: the registry loads those runs itself, so reading a run lives beside it
# (trigen.runs, which loads whole runs into families, builds on it).
LIVE_WEIGHTS = "model.safetensors"
"""A checkpoint's live weights (beside its EMA): what a frozen tokenizer or autoencoder uses."""


@dataclass(frozen=True)
class SavedRun:
    """A verified checkpoint read back from ``directory``, with the config and data it was
    trained on."""

    directory: Path
    checkpoint: Checkpoint
    config: TrainConfig
    data: DataSpec


def read_run(path: Path, warn: Callable[[str], None] | None = None) -> SavedRun:
    """The checkpoint at ``path`` (or a run directory's newest valid one) with its config and
    data; newer checkpoints that fail verification are skipped, each reported through ``warn``."""
    directory = ckpt_io.resolve(Path(path), warn=warn)
    ckpt = ckpt_io.load(directory)
    try:
        cfg = TrainConfig.from_dict(ckpt.config)
        spec = DataSpec.from_dict(ckpt.extra["meta"]["data"])
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise CheckpointError(
            f"{path} has an unreadable configuration ({err}); it was altered or written by "
            "another trigen version"
        ) from None
    return SavedRun(directory, ckpt, cfg, spec)


def _frozen_network(run: SavedRun, source: str, device: torch.device | str) -> torch.nn.Module:
    """``run``'s network with its live weights (not the EMA), frozen on ``device``; ``source``
    names it in errors."""
    net = build_network(run.config, run.data)
    ckpt_io.load_weights(net, run.checkpoint.tensors[LIVE_WEIGHTS], source)
    return net.to(device).eval().requires_grad_(False)


def load_tokenizer(path: str | None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The frozen VQ-VAE of a ``vqvae`` training run (its live weights: the codebook is an EMA)."""
    if not path:
        raise ConfigError("family vq needs a trained tokenizer: --set tokenizer=<vqvae run dir>")
    run = read_run(Path(path))
    if run.config.family is not FamilyName.VQVAE:
        raise ConfigError(f"{path} is a {run.config.family.value} run, not a vqvae tokenizer")
    return _frozen_network(run, f"tokenizer {path}", device)


def load_autoencoder(path: str | Path | None, device: torch.device | str = "cpu"):
    """The frozen :class:`~trigen.tokenizers.autoencoder.LatentCodec` at ``path``: a klvae run
    directory or checkpoint (its live weights, with their computed scale factor), or a diffusers
    ``AutoencoderKL`` directory (config.json ``_class_name``; its own ``scaling_factor``)."""
    from trigen.interop.diffusers_vae import is_diffusers_vae, load_diffusers_vae
    from trigen.latent_scale import autoencoder_scale_factor, weights_digest
    from trigen.tokenizers.autoencoder import KLCodec

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
    run = read_run(path)
    if run.config.family is not FamilyName.KLVAE:
        raise ConfigError(
            f"{path} is a {run.config.family.value} run, not a klvae autoencoder or a diffusers "
            "AutoencoderKL directory"
        )
    net = _frozen_network(run, f"autoencoder {path}", device)
    resolution = run.data.image_shape[1]
    scale = autoencoder_scale_factor(run.directory, LIVE_WEIGHTS, net, run.config, resolution)
    return KLCodec(net, scale, weights_digest(run.directory, LIVE_WEIGHTS))
