"""VQ-VAE (van den Oord et al. 2017): conv encoder → vector quantizer → conv decoder; token caches.

``encode(images (B, C, H, W)) → indices (B, h, w)`` with ``h = H / downsample``;
``decode(indices) → images`` in [-1, 1]. The quantizer passes gradients straight through, keeps
its codebook as an exponential moving average of the encoder outputs assigned to each code (or
learns it with a codebook loss), adds the commitment loss β·‖z − sg(e)‖², and re-seeds codes that
fell out of use with encoder outputs of the current batch (dead-code restart).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen.atomic import atomic_write, atomic_write_text
from trigen.batch import Batch
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError, DataError
from trigen.models.presets import check_field_types, from_preset, preset_fields

LAPLACE_EPS = 1e-5
"""Additive smoothing of the EMA code counts, so a rarely used code never divides by zero."""

RESTART_USAGE = 1.0
"""EMA count given to a code when it is created or re-seeded: one assignment per batch."""


class Codebook(StrEnum):
    """How the code vectors are learned."""

    EMA = "ema"  # moving average of assigned encoder outputs (no gradient to the codebook)
    LEARNED = "learned"  # parameters trained by the codebook loss ‖sg(z) − e‖²


@dataclass(frozen=True, kw_only=True)
class VQVAEConfig:
    """Shape and training options of a :class:`VQVAE` for square images (C, S, S)."""

    in_channels: int
    image_size: int
    hidden: int
    num_res_blocks: int
    codebook_size: int
    code_dim: int
    downsample: int = 4  # a power of two: 28 → 7 with two stride-2 stages
    beta: float = 0.25  # commitment weight
    codebook: Codebook = Codebook.EMA
    ema_decay: float = 0.99
    dead_code_threshold: float = 0.1  # EMA assignments per batch below which a code is restarted

    def __post_init__(self) -> None:
        check_field_types(self, "VQ-VAE")
        for name in ("in_channels", "image_size", "hidden", "codebook_size", "code_dim"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"VQ-VAE {name} must be positive, got {getattr(self, name)}")
        d = self.downsample
        if d < 2 or d & (d - 1) or self.image_size % d:
            raise ConfigError(
                f"VQ-VAE downsample must be a power of two ≥ 2 dividing image_size "
                f"{self.image_size}, got {d}"
            )
        if not 0 < self.ema_decay < 1 or self.beta < 0 or self.num_res_blocks < 0:
            raise ConfigError("VQ-VAE needs 0 < ema_decay < 1, beta ≥ 0, num_res_blocks ≥ 0")

    @property
    def token_grid(self) -> tuple[int, int]:
        side = self.image_size // self.downsample
        return side, side


VQ_PRESETS: dict[str, dict[str, int]] = {
    "vq-tiny": {"hidden": 32, "num_res_blocks": 1, "codebook_size": 64, "code_dim": 16},
    "vq-small": {"hidden": 64, "num_res_blocks": 2, "codebook_size": 256, "code_dim": 32},
    "vq-medium": {"hidden": 128, "num_res_blocks": 2, "codebook_size": 512, "code_dim": 64},
}
"""Preset name → architecture fields."""


def vq_config(preset: str, *, in_channels: int, image_size: int, **overrides) -> VQVAEConfig:
    """The :class:`VQVAEConfig` of ``preset`` (e.g. ``"vq-small"``); ``overrides`` set fields."""
    data = dict(in_channels=in_channels, image_size=image_size)
    fields = preset_fields(VQ_PRESETS, preset, "VQ-VAE")
    return from_preset(VQVAEConfig, fields, data=data, overrides=overrides, what="VQ-VAE")


class ResBlock(nn.Module):
    """``x + conv1×1(relu(conv3×3(relu(x))))`` at constant channels (the VQ-VAE paper's block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def encoder(cfg: VQVAEConfig) -> nn.Sequential:
    """(B, C, S, S) → (B, code_dim, S/d, S/d) with log2(d) stride-2 convolutions."""
    layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.hidden, 3, padding=1)]
    for _ in range(int(math.log2(cfg.downsample))):
        layers += [nn.Conv2d(cfg.hidden, cfg.hidden, 4, stride=2, padding=1), nn.ReLU()]
    layers += [ResBlock(cfg.hidden) for _ in range(cfg.num_res_blocks)]
    layers += [nn.ReLU(), nn.Conv2d(cfg.hidden, cfg.code_dim, 1)]
    return nn.Sequential(*layers)


def decoder(cfg: VQVAEConfig) -> nn.Sequential:
    """(B, code_dim, S/d, S/d) → (B, C, S, S), mirroring :func:`encoder` with transposed convs."""
    layers: list[nn.Module] = [nn.Conv2d(cfg.code_dim, cfg.hidden, 3, padding=1)]
    layers += [ResBlock(cfg.hidden) for _ in range(cfg.num_res_blocks)]
    for _ in range(int(math.log2(cfg.downsample))):
        layers += [nn.ReLU(), nn.ConvTranspose2d(cfg.hidden, cfg.hidden, 4, stride=2, padding=1)]
    layers += [nn.ReLU(), nn.Conv2d(cfg.hidden, cfg.in_channels, 3, padding=1)]
    return nn.Sequential(*layers)


class VectorQuantizer(nn.Module):
    """Nearest-code quantisation of (B, D, h, w) feature maps against ``codebook`` (K, D).

    The first training batch seeds every code with one of its encoder outputs.
    ``cluster_size`` (K,) is the moving average of how many vectors each code receives per batch;
    in training mode ``forward`` updates it (and, for an EMA codebook, the codes: like BatchNorm's
    running statistics) and re-seeds codes whose count fell below ``dead_code_threshold``. These
    statistics are per process: under data parallelism each rank keeps its own.
    """

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, d = cfg.codebook_size, cfg.code_dim
        init = torch.empty(k, d).uniform_(-1 / k, 1 / k)
        if cfg.codebook is Codebook.EMA:
            self.register_buffer("codebook", init)
            self.register_buffer("embed_sum", init * RESTART_USAGE)  # EMA of assigned sums
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("cluster_size", torch.full((k,), RESTART_USAGE))
        # codes start as encoder outputs of the first training batch, so none starts unreachable
        self.register_buffer("initialized", torch.tensor(False))

    def nearest(self, flat: Tensor) -> Tensor:
        """Index (N,) of the nearest code of each vector of ``flat`` (N, D), in float32."""
        flat, book = flat.float(), self.codebook.float()
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.T + book.pow(2).sum(1)[None]
        return dist.argmin(dim=1)

    def lookup(self, indices: Tensor) -> Tensor:
        """Code vectors (B, D, h, w) of ``indices`` (B, h, w)."""
        return self.codebook[indices].permute(0, 3, 1, 2)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Quantise ``z`` (B, D, h, w) → (straight-through z_q (B, D, h, w), indices (B, h, w),
        per-example losses (B,): ``commitment`` ‖z − sg(e)‖² and, if learned, ``codebook``)."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)  # (B·h·w, D)
        indices = self.nearest(flat.detach())  # (B·h·w,)
        z_q = self.codebook[indices].view(b, h, w, d).permute(0, 3, 1, 2).to(z.dtype)
        losses = {"commitment": (z - z_q.detach()).pow(2).mean(dim=(1, 2, 3))}
        if self.cfg.codebook is Codebook.LEARNED:
            losses["codebook"] = (z_q - z.detach()).pow(2).mean(dim=(1, 2, 3))
        if self.training:
            self.update_statistics(flat.detach().float(), indices)
        z_st = z + (z_q - z).detach()  # straight-through: the decoder's gradient reaches z
        return z_st, indices.view(b, h, w), losses

    @torch.no_grad()
    def update_statistics(self, flat: Tensor, indices: Tensor) -> None:
        """Move the usage counts (and EMA codes) towards this batch; restart dead codes."""
        k, decay = self.cfg.codebook_size, self.cfg.ema_decay
        if not self.initialized:
            self.cluster_size.zero_()  # every code counts as dead: all are seeded from this batch
            self.restart_dead_codes(flat)
            self.initialized.fill_(True)
        counts = torch.bincount(indices, minlength=k).to(flat.dtype)  # (K,)
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        if self.cfg.codebook is Codebook.EMA:
            sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, flat)  # (K, D)
            self.embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + LAPLACE_EPS) / (n + k * LAPLACE_EPS) * n
            self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self.restart_dead_codes(flat)

    @torch.no_grad()
    def restart_dead_codes(self, flat: Tensor) -> int:
        """Re-seed every code with ``cluster_size < dead_code_threshold`` by a random row of
        ``flat`` (N, D) (encoder outputs of this batch); returns how many codes were re-seeded."""
        dead = (self.cluster_size < self.cfg.dead_code_threshold).nonzero().squeeze(1)
        if dead.numel() == 0:
            return 0
        pick = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
        fresh = flat[pick].to(self.codebook.dtype)
        self.codebook.data[dead] = fresh
        self.cluster_size[dead] = RESTART_USAGE
        if self.cfg.codebook is Codebook.EMA:
            self.embed_sum[dead] = fresh * RESTART_USAGE
        return dead.numel()


class VQVAE(nn.Module):
    """Encoder, :class:`VectorQuantizer` and decoder; images in [-1, 1] ↔ code grids (h, w)."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder(cfg)
        self.quantizer = VectorQuantizer(cfg)
        self.decoder = decoder(cfg)

    @property
    def token_grid(self) -> tuple[int, int]:
        return self.cfg.token_grid

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    def encode(self, images: Tensor) -> Tensor:
        """Code indices (B, h, w) int64 of images (B, C, H, W) in [-1, 1]; updates no statistics."""
        z = self.encoder(images)  # (B, D, h, w)
        b, d, h, w = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, d)).view(b, h, w)

    def decode(self, indices: Tensor) -> Tensor:
        """Images (B, C, H, W) clamped to [-1, 1] from code indices (B, h, w)."""
        return self.decoder(self.quantizer.lookup(indices)).clamp(-1, 1)

    def forward(self, images: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """(reconstruction (B, C, H, W) unclamped, per-example losses (B,) by name, indices)."""
        z_q, indices, losses = self.quantizer(self.encoder(images))
        recon = self.decoder(z_q)
        losses["recon"] = (recon - images).pow(2).mean(dim=(1, 2, 3))
        return recon, losses, indices

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example training loss (B,): recon MSE + β·commitment (+ codebook loss if learned)."""
        _, losses, _ = self(batch.images)
        total = losses["recon"] + self.cfg.beta * losses["commitment"]
        return total + losses["codebook"] if "codebook" in losses else total


@torch.no_grad()
def tokenize_dataset(
    tokenizer: VQVAE, dataset: tuple[Tensor, Tensor], *, batch_size: int = 512
) -> tuple[Tensor, Tensor]:
    """Code grids of a whole dataset: ``(images uint8 (N, C, H, W), labels (N,))`` →
    ``(tokens int64 (N, h·w), labels int64 (N,))`` on the CPU, encoded in eval mode in chunks."""
    images, labels = dataset
    if images.ndim != 4 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"expected uint8 images (N, C, H, W) and N labels, got {tuple(images.shape)}"
        )
    device = next(tokenizer.parameters()).device
    was_training = tokenizer.training
    tokenizer.eval()
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        chunk = to_model_range(images[start : start + batch_size].to(device))
        chunks.append(tokenizer.encode(chunk).flatten(1).cpu())  # (b, h·w)
    tokenizer.train(was_training)
    return torch.cat(chunks), labels.long().cpu()


CACHE_FORMAT = "trigen-token-cache-v1"


def save_token_cache(
    path: Path, tokens: Tensor, labels: Tensor, *, token_grid: tuple[int, int],
    codebook_size: int, meta: dict | None = None,
) -> None:  # fmt: skip
    """Write ``path`` (safetensors: tokens as uint16, labels) and ``path.with_suffix('.json')``.

    Each file is written to a temporary name then renamed, so an interrupted write leaves any
    earlier cache intact.
    """
    if codebook_size > 2**16:
        raise ConfigError(f"token caches hold at most 65536 codes, got {codebook_size}")
    path = Path(path)
    header = {
        "format": CACHE_FORMAT,
        "token_grid": list(token_grid),
        "codebook_size": codebook_size,
        "count": int(tokens.shape[0]),
        "meta": meta or {},
    }
    tensors = {"tokens": tokens.flatten(1).to(torch.uint16).contiguous(), "labels": labels.long()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_text(path.with_suffix(".json"), json.dumps(header, indent=2))


def load_token_cache(path: Path) -> tuple[Tensor, Tensor, dict]:
    """``(tokens int64 (N, h·w), labels int64 (N,), header dict)`` from :func:`save_token_cache`."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    hint = "re-create it with `trigen tokenize`"
    try:
        header = json.loads(sidecar.read_text())
        tensors = load_file(str(path))
    except (OSError, json.JSONDecodeError, SafetensorError) as err:
        raise DataError(f"cannot read token cache {path} ({err}); {hint}") from None
    if header.get("format") != CACHE_FORMAT or set(tensors) != {"tokens", "labels"}:
        raise DataError(f"{path} is not a trigen token cache; {hint}")
    tokens, labels = tensors["tokens"].long(), tensors["labels"]
    h, w = header["token_grid"]
    if tokens.shape != (header["count"], h * w) or labels.shape != (header["count"],):
        raise DataError(f"token cache {path} does not match its header; {hint}")
    return tokens, labels, header
