"""Latent caches: a dataset encoded once by an autoencoder, kept as safetensors + JSON.

The cache ``<stem>.safetensors`` holds ``latents`` float32 (N, c, h, w) (already scaled) and
``labels`` int64 (N,); ``<stem>.json`` holds the format and the key it was made for (autoencoder
fingerprint, dataset, split, resolution, ...). A cache is reused only when its key equals the one
asked for; otherwise, or when it is unreadable, it is rebuilt. Each file is written under a
temporary name and renamed, the tensors first, so a crash never leaves a header over a
half-written cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from trigen.atomic import atomic_write, atomic_write_text
from trigen.batch import Batch
from trigen.errors import DataError

CACHE_FORMAT = "trigen-latent-cache-v1"
ENCODE_BATCH = 256  # images per encoder forward while building a cache


@dataclass
class LatentDataset:
    """Encoded images held in memory, indexable like an :class:`ImageDataset`.

    ``images`` float32 (N, c, h, w): scaled latents (the loader passes float tensors through
    unchanged); ``labels`` int64 (N,); ``num_classes``/``class_names`` of the source dataset.
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    name: str = "latents"

    def __post_init__(self) -> None:
        if not self.images.is_floating_point() or self.images.ndim != 4:
            raise DataError(f"latents must be float (N, c, h, w), got {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise DataError(f"latent labels must be int64 ({self.images.shape[0]},)")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index) -> Batch:
        images, labels = self.images[index], self.labels[index]
        if images.ndim == 3:
            images, labels = images.unsqueeze(0), labels.unsqueeze(0)
        return Batch(images, labels)


def cache_path(directory: Path, key: dict[str, Any]) -> Path:
    """``directory/<split>-<16 hex of the key's hash>.safetensors`` for ``key``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(directory) / f"{key.get('split', 'data')}-{digest}.safetensors"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_latent_cache(path: Path, latents: Tensor, labels: Tensor, key: dict[str, Any]) -> None:
    """Write ``path`` and its JSON header atomically (tensors first, then the header)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"latents": latents.float().contiguous().cpu(), "labels": labels.long().cpu()}
    _sidecar(path).unlink(missing_ok=True)  # no header may vouch for tensors being replaced
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    header = {"format": CACHE_FORMAT, "count": int(latents.shape[0]), "key": key}
    atomic_write_text(_sidecar(path), json.dumps(header, indent=1))


def read_latent_cache(path: Path, key: dict[str, Any]) -> tuple[Tensor, Tensor] | None:
    """``(latents (N, c, h, w), labels (N,))`` if ``path`` is a valid cache made for ``key``;
    None when it is absent or made for another key; DataError when it is corrupt."""
    path = Path(path)
    if not path.exists() or not _sidecar(path).exists():
        return None
    hint = "delete it (it is rebuilt from the dataset) or move it away"
    try:
        header = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError) as err:
        raise DataError(
            f"latent cache header {_sidecar(path)} is unreadable ({err}); {hint}"
        ) from None
    if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT:
        raise DataError(f"{_sidecar(path)} is not a trigen latent cache header; {hint}")
    if header.get("key") != key:
        return None
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as err:
        raise DataError(f"latent cache {path} is corrupt ({err}); {hint}") from None
    latents, labels = tensors.get("latents"), tensors.get("labels")
    count = header.get("count")
    if latents is None or labels is None or latents.ndim != 4 or latents.shape[0] != count:
        raise DataError(f"latent cache {path} does not match its header; {hint}")
    if labels.shape != (count,):
        raise DataError(f"latent cache {path} does not match its header; {hint}")
    return latents, labels


@torch.no_grad()
def encode_images(
    encode: Callable[[Tensor], Tensor],
    images: Tensor,
    device: torch.device | str,
    *,
    batch_size: int = ENCODE_BATCH,
) -> Tensor:
    """``encode`` over uint8 ``images`` (N, C, H, W) in chunks → float32 latents on the CPU."""
    from trigen.data.transforms import to_model_range

    chunks = [
        encode(to_model_range(images[i : i + batch_size].to(device))).float().cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(chunks)


def cached_latents(
    path: Path,
    key: dict[str, Any],
    build: Callable[[], tuple[Tensor, Tensor]],
    *,
    on_note: Callable[[str], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """The cache at ``path`` if it was made for ``key``; else ``build()`` it and save it.

    A corrupt cache is reported through ``on_note`` and rebuilt (it is derived data).
    """
    try:
        found = read_latent_cache(path, key)
    except DataError as err:
        if on_note is not None:
            on_note(f"{err}; rebuilding it")
        found = None
    if found is not None:
        return found
    latents, labels = build()
    save_latent_cache(path, latents, labels, key)
    return latents, labels


def latent_dataset(
    codec,
    dataset,
    key: dict[str, Any],
    directory: Path,
    device: torch.device | str,
    *,
    write: bool = True,
    on_note: Callable[[str], None] | None = None,
) -> LatentDataset:
    """``dataset`` (an ImageDataset) encoded by ``codec`` (a LatentCodec, posterior mean), through
    the cache in ``directory`` keyed by ``key`` + the codec's fingerprint and the image shape.

    With ``write`` False (data-parallel ranks other than 0) the cache must already exist.
    """
    key = {
        **key,
        "format": CACHE_FORMAT,
        "autoencoder": codec.fingerprint,
        "scale_factor": codec.scale_factor,
        "image_shape": list(dataset.images.shape[1:]),
        "count": len(dataset),
        "encoding": "posterior mean",
    }
    path = cache_path(directory, key)

    def build() -> tuple[Tensor, Tensor]:
        return encode_images(codec.encode, dataset.images, device), dataset.labels

    if write:
        latents, labels = cached_latents(path, key, build, on_note=on_note)
    else:
        found = read_latent_cache(path, key)
        if found is None:
            raise DataError(f"latent cache {path} is missing; rank 0 should have written it")
        latents, labels = found
    return LatentDataset(
        latents, labels, dataset.num_classes, list(dataset.class_names), f"{dataset.name}-latents"
    )
