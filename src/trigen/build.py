"""Config → (network, family): the only name → class registry in trigen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

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


def _diffusion_family(net: torch.nn.Module, cfg: TrainConfig, spec: DataSpec) -> Family:
    from trigen.diffusion.process import parse_prediction
    from trigen.diffusion.schedules import NoiseSchedule
    from trigen.families.diffusion import DiffusionFamily

    opts = cfg.diffusion
    return DiffusionFamily(
        net=net,
        schedule=NoiseSchedule.from_kind(opts.schedule),
        prediction=parse_prediction(opts.prediction),
        num_classes=spec.num_classes,
        image_shape=spec.image_shape,
        label_dropout=cfg.label_dropout,
        min_snr_gamma=opts.min_snr_gamma,
    )


def build_network(cfg: TrainConfig, spec: DataSpec) -> torch.nn.Module:
    """The network named by ``cfg.family`` / ``cfg.preset``, sized for ``spec``."""
    c, h, _ = spec.image_shape
    common = {"num_classes": spec.num_classes, **cfg.model_overrides}
    if cfg.family is FamilyName.UNET:
        from trigen.models.unet import UNet, unet_config

        return UNet(unet_config(cfg.preset, input_size=h, in_channels=c, **common))
    if cfg.family is FamilyName.DIT:
        from trigen.models.dit import DiT, dit_config

        return DiT(dit_config(cfg.preset, input_size=h, in_channels=c, **common))
    if cfg.family is FamilyName.AR:
        from trigen.models.ar_transformer import ARTransformer, ar_config

        return ARTransformer(ar_config(cfg.preset, image_shape=spec.image_shape, **common))
    if cfg.family is FamilyName.PIXELCNN:
        from trigen.models.pixelcnn import PixelCNN, pixelcnn_config

        return PixelCNN(pixelcnn_config(cfg.preset, input_size=h, in_channels=c, **common))
    if cfg.family is FamilyName.VQVAE:
        from trigen.tokenizers.vqvae import VQVAE, vq_config

        return VQVAE(vq_config(cfg.preset, in_channels=c, image_size=h, **cfg.model_overrides))
    if cfg.family is FamilyName.VQ:
        from trigen.models.ar_transformer import ARTransformer, ar_config

        tokenizer = load_tokenizer(cfg.tokenizer)
        h_tok, w_tok = tokenizer.token_grid
        return ARTransformer(
            ar_config(
                cfg.preset, grid=(h_tok, w_tok, 1), vocab_size=tokenizer.codebook_size, **common
            )
        )
    raise ConfigError(f"family {cfg.family.value!r} cannot be built from a preset alone")


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
    """Network + the math that trains and samples it, on ``device``."""
    if h_w_mismatch(spec):
        raise ConfigError(f"images must be square, got {spec.image_shape[1]}×{spec.image_shape[2]}")
    net = build_network(cfg, spec).to(device)
    if cfg.family in (FamilyName.UNET, FamilyName.DIT):
        return _diffusion_family(net, cfg, spec)
    if cfg.family is FamilyName.AR:
        from trigen.families.autoregressive import AutoregressiveFamily

        return AutoregressiveFamily(
            net=net,
            num_classes=spec.num_classes,
            image_shape=spec.image_shape,
            label_dropout=cfg.label_dropout,
        )
    if cfg.family is FamilyName.PIXELCNN:
        from trigen.families.pixelcnn import PixelCNNFamily

        return PixelCNNFamily(
            net=net,
            num_classes=spec.num_classes,
            image_shape=spec.image_shape,
            label_dropout=cfg.label_dropout,
        )
    if cfg.family is FamilyName.VQVAE:
        from trigen.families.tokenizer import TokenizerFamily

        return TokenizerFamily(net=net, num_classes=spec.num_classes, image_shape=spec.image_shape)
    if cfg.family is FamilyName.VQ:
        from trigen.families.autoregressive import VQTokenFamily

        return VQTokenFamily(
            net=net,
            tokenizer=load_tokenizer(cfg.tokenizer, device),
            num_classes=spec.num_classes,
            image_shape=spec.image_shape,
            label_dropout=cfg.label_dropout,
        )
    raise ConfigError(f"family {cfg.family.value!r} is not supported yet")


def h_w_mismatch(spec: DataSpec) -> bool:
    return spec.image_shape[1] != spec.image_shape[2]
