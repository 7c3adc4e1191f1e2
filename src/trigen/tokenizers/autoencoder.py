"""KL autoencoder (Kingma & Welling 2014; the latent-diffusion "KL-f4" kind, Rombach et al. 2022).

A conv encoder maps images (B, C, H, W) in [-1, 1] to the mean and log-variance of a diagonal
Gaussian posterior over latents (B, c, H/d, W/d); a conv decoder maps latents back to images.
Both are stacks of GroupNorm/SiLU residual blocks. The loss is L1 reconstruction + β·KL.

:class:`LatentCodec` is the interface latent diffusion uses; :class:`KLCodec` (this network) and
the diffusers ``AutoencoderKL`` wrapper implement it. Latents a codec returns are already
multiplied by its ``scale_factor`` (1 / std of the unscaled latents over training data, computed
by :func:`latent_scale_factor` after training, never a constant), so they have unit variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError, DataError
from trigen.models.presets import check_field_types, from_preset, preset_fields

LOGVAR_RANGE = (-30.0, 20.0)
"""Posterior log-variance is clamped here (as in latent diffusion) so exp() stays finite."""

SCALE_IMAGES = 2048
"""Training images whose latents fix the scale factor: enough for a std to ~1.5 % (1/√(2n))."""

SCALE_SEED = 0
"""Seed of the fixed permutation that picks the :data:`SCALE_IMAGES`."""


@runtime_checkable
class LatentCodec(Protocol):
    """Images in [-1, 1] (B, C, H, W) ↔ scaled latents (B, c, h, w) of about unit variance.

    ``scale_factor`` multiplies the raw latents; ``in_channels`` is C; ``downsample`` is H / h;
    ``fingerprint`` names the weights (a sha256) so that caches of encoded data can tell codecs
    apart.
    """

    scale_factor: float
    in_channels: int
    downsample: int
    fingerprint: str

    def encode(
        self, images: Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Scaled latents (B, c, h, w): the posterior mean, or a draw from it with ``sample``."""
        ...

    def decode(self, latents: Tensor) -> Tensor:
        """Images (B, C, H, W) clamped to [-1, 1] from scaled latents (B, c, h, w)."""
        ...

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(c, h, w) of the latents of one image of shape (C, H, W)."""
        ...


@dataclass(frozen=True, kw_only=True)
class KLAutoencoderConfig:
    """Shape and loss of a :class:`KLAutoencoder` for square images (C, S, S)."""

    in_channels: int
    image_size: int
    hidden: int
    num_res_blocks: int
    latent_channels: int = 4
    downsample: int = 4  # a power of two: 28 → 7, 32 → 8 with two stride-2 stages
    norm_groups: int = 8
    # KL weight in latent diffusion's units (both terms summed over elements): reconstruction
    # must dominate; the KL only keeps the posterior's scale and variance from drifting without
    # bound. The diffusion model needs a smooth, well-scaled latent, not one matching N(0, I).
    kl_weight: float = 1e-6

    def __post_init__(self) -> None:
        check_field_types(self, "KL autoencoder")
        for name in ("in_channels", "image_size", "hidden", "latent_channels", "norm_groups"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"KL autoencoder {name} must be positive, got {getattr(self, name)}"
                )
        d = self.downsample
        if d < 2 or d & (d - 1) or self.image_size % d:
            raise ConfigError(
                f"KL autoencoder downsample must be a power of two ≥ 2 dividing image_size "
                f"{self.image_size}, got {d}"
            )
        if self.hidden % self.norm_groups:
            raise ConfigError(
                f"KL autoencoder hidden {self.hidden} must be a multiple of norm_groups "
                f"{self.norm_groups}"
            )
        if self.num_res_blocks < 0 or not (math.isfinite(self.kl_weight) and self.kl_weight >= 0):
            raise ConfigError("KL autoencoder needs num_res_blocks ≥ 0 and kl_weight ≥ 0")


KL_PRESETS: dict[str, dict[str, int]] = {
    "kl-tiny": {"hidden": 32, "num_res_blocks": 1},  # CPU: MNIST at 16, 28 or 32 px
    "kl-small": {"hidden": 64, "num_res_blocks": 2},
}
"""Preset name → architecture fields."""


def kl_config(
    preset: str, *, in_channels: int, image_size: int, **overrides
) -> KLAutoencoderConfig:
    """The :class:`KLAutoencoderConfig` of ``preset``; ``overrides`` set other fields."""
    data = dict(in_channels=in_channels, image_size=image_size)
    fields = preset_fields(KL_PRESETS, preset, "KL autoencoder")
    return from_preset(
        KLAutoencoderConfig, fields, data=data, overrides=overrides, what="KL autoencoder"
    )


class ResBlock(nn.Module):
    """``x + conv(silu(norm(conv(silu(norm(x))))))`` at constant channels."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def _stages(cfg: KLAutoencoderConfig) -> int:
    return int(math.log2(cfg.downsample))


def encoder(cfg: KLAutoencoderConfig) -> nn.Sequential:
    """(B, C, S, S) → (B, 2c, S/d, S/d): posterior mean and log-variance stacked on channels.

    Residual blocks run only below full resolution: full-size 3×3 convolutions would cost most
    of the compute of these small images for little gain.
    """
    h, g = cfg.hidden, cfg.norm_groups
    layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, h, 3, padding=1)]
    for _ in range(_stages(cfg)):
        layers.append(nn.Conv2d(h, h, 3, stride=2, padding=1))
        layers += [ResBlock(h, g) for _ in range(cfg.num_res_blocks)]
    layers += [nn.GroupNorm(g, h), nn.SiLU(), nn.Conv2d(h, 2 * cfg.latent_channels, 3, padding=1)]
    return nn.Sequential(*layers)


def decoder(cfg: KLAutoencoderConfig) -> nn.Sequential:
    """(B, c, S/d, S/d) → (B, C, S, S), mirroring :func:`encoder`: residual blocks, then nearest
    upsampling + conv, at each stage."""
    h, g = cfg.hidden, cfg.norm_groups
    layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, h, 3, padding=1)]
    for _ in range(_stages(cfg)):
        layers += [ResBlock(h, g) for _ in range(cfg.num_res_blocks)]
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(h, h, 3, padding=1)]
    layers += [nn.GroupNorm(g, h), nn.SiLU(), nn.Conv2d(h, cfg.in_channels, 3, padding=1)]
    return nn.Sequential(*layers)


class KLAutoencoder(nn.Module):
    """Encoder → diagonal Gaussian posterior over raw (unscaled) latents → decoder."""

    def __init__(self, cfg: KLAutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder(cfg)
        self.decoder = decoder(cfg)

    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log-variance), each (B, c, S/d, S/d), of images (B, C, S, S) in [-1, 1]."""
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, images: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(reconstruction (B, C, S, S) unclamped, mean, log-variance) with the
        reparameterised latent z = mean + exp(logvar / 2)·noise; ``noise`` has the latent shape."""
        mean, logvar = self.posterior(images)
        z = mean + (0.5 * logvar).exp() * noise  # (B, c, h, w)
        return self.decoder(z), mean, logvar

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        c, h, w = image_shape
        d = self.cfg.downsample
        if c != self.cfg.in_channels or h % d or w % d:
            raise DataError(
                f"this autoencoder takes {self.cfg.in_channels}-channel images with sides "
                f"divisible by {d}, got {image_shape}"
            )
        return self.cfg.latent_channels, h // d, w // d

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example training loss (B,); see :func:`autoencoder_loss`."""
        return autoencoder_loss(self, self.cfg, batch.images, generator)


def autoencoder_loss(
    net: nn.Module,
    cfg: KLAutoencoderConfig,
    images: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-example loss (B,): mean |x − x̂| + kl_weight · KL(q(z|x) ‖ N(0, I)) / (C·H·W).

    ``net`` is a :class:`KLAutoencoder` of config ``cfg``, or a wrapper that forwards to one
    (data parallelism), called as ``net(images, noise)``. L1 rather than MSE: it reconstructs
    edges sharper (the median, not the mean, of what the decoder is unsure of; latent
    diffusion's pixel term too). The KL is summed over latent elements and divided by the pixel
    count, so ``kl_weight`` is in latent diffusion's units.
    """
    b, c, h, w = images.shape
    d = cfg.downsample
    shape = (b, cfg.latent_channels, h // d, w // d)
    noise = torch.randn(shape, generator=generator, device=images.device, dtype=images.dtype)
    recon, mean, logvar = net(images, noise)
    l1 = (recon - images).abs().flatten(1).mean(1)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)
    return l1 + cfg.kl_weight * kl / (c * h * w)


@dataclass
class KLCodec:
    """A trained :class:`KLAutoencoder` as a :class:`LatentCodec` (frozen, eval mode)."""

    net: KLAutoencoder
    scale_factor: float
    fingerprint: str

    @property
    def in_channels(self) -> int:
        return self.net.cfg.in_channels

    @property
    def downsample(self) -> int:
        return self.net.cfg.downsample

    @torch.no_grad()
    def encode(
        self, images: Tensor, *, sample: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        mean, logvar = self.net.posterior(images)
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
            mean = mean + (0.5 * logvar).exp() * noise.to(mean.dtype)
        return mean * self.scale_factor

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        return self.net.decoder(latents / self.scale_factor).clamp(-1, 1)

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return self.net.latent_shape(image_shape)


def scale_subset(num_images: int) -> Tensor:
    """Indices (≤ SCALE_IMAGES,) of the fixed training images the scale factor is computed on."""
    generator = torch.Generator().manual_seed(SCALE_SEED)
    return torch.randperm(num_images, generator=generator)[:SCALE_IMAGES]


@torch.no_grad()
def latent_scale_factor(
    encode_raw, images: Tensor, *, batch_size: int = 256, device: torch.device | str = "cpu"
) -> float:
    """1 / std of the unscaled latents ``encode_raw(x)`` over uint8 ``images`` (N, C, H, W).

    ``encode_raw`` maps a float batch in [-1, 1] to raw latents (the posterior mean).
    """
    if images.ndim != 4 or images.shape[0] < 2:
        raise DataError(
            f"the scale factor needs ≥ 2 images (N, C, H, W), got {tuple(images.shape)}"
        )
    chunks = [
        encode_raw(to_model_range(images[i : i + batch_size].to(device))).double().cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    std = float(torch.cat(chunks).std())
    if not (math.isfinite(std) and std > 0):
        raise DataError(f"the latents have std {std}: the autoencoder is broken (retrain it)")
    return 1.0 / std
