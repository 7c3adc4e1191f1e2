"""One sampling path for one process or many (``torchrun ... trigen sample``).

The labels are cut into chunks of ``batch_size``; chunk k is sampled with its own generator,
seeded :func:`chunk_seed` ``(seed, k)``, by rank ``k % world_size``. An image therefore depends
only on (seed, batch_size, its position), never on how many processes drew the chunks: N ranks
produce exactly the images one process produces, and one process produces what
:func:`trigen.api.sample` always did (chunk 0 uses ``seed`` itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import Tensor

from trigen.data.transforms import from_model_range
from trigen.errors import ConfigError
from trigen.families.base import Family, SampleSpec
from trigen.families.diffusion import DiffusionFamily
from trigen.families.latent import LatentDiffusionFamily
from trigen.inference import compile_for_inference
from trigen.train.distributed import SINGLE, DistContext

SEED_MODULUS = 2**63  # torch generators take seeds below 2^63
# Odd 64-bit constant (2^64 / golden ratio): consecutive chunks get well-spread seeds.
CHUNK_SEED_STRIDE = 0x9E3779B97F4A7C15


def chunk_seed(seed: int, index: int) -> int:
    """Seed of the generator that samples chunk ``index``; chunk 0 uses ``seed`` itself."""
    return (seed + index * CHUNK_SEED_STRIDE) % SEED_MODULUS


def compile_for_sampling(family: Family) -> bool:
    """Compile the network of a diffusion family for sampling (:mod:`trigen.inference`);
    returns whether it did.

    Diffusion samplers call one network on one shape at every step, which one compilation
    serves. Autoregressive families are left eager and return False: their KV-cache steps
    (and PixelCNN's growing row window) change shape from call to call.
    """
    if not isinstance(family, DiffusionFamily | LatentDiffusionFamily):
        return False
    compile_for_inference(family.net)
    return True


def class_labels(num_classes: int, n: int, classes: Sequence[int] | str | None = None) -> Tensor:
    """The labels (int64) to sample for a model of ``num_classes`` classes.

    ``classes="all"``: each class ``n`` times, class by class (a grid row per class);
    a sequence of class indices: cycled to ``n`` labels; None: ``0, 1, 2, …`` cycled to ``n``.
    An unconditional model (``num_classes == 0``) gets ``n`` null labels and takes no classes.
    """
    if num_classes == 0:
        if classes is not None:
            raise ConfigError("this model is unconditional; give no classes")
        return torch.full((n,), num_classes, dtype=torch.long)
    if classes is None:
        return torch.arange(n) % num_classes
    if isinstance(classes, str):
        if classes != "all":
            raise ConfigError(f"classes must be 'all' or class indices, got {classes!r}")
        return torch.arange(num_classes).repeat_interleave(n)
    values = list(classes)
    bad = [v for v in values if not 0 <= v < num_classes]
    if not values or bad:
        raise ConfigError(f"classes must be indices in 0..{num_classes - 1}, got {values}")
    return torch.tensor(values, dtype=torch.long).repeat(-(-n // len(values)))[:n]


def to_uint8(images: Tensor) -> Tensor:
    """(N, C, H, W) float in [-1, 1] → (N, H, W, C) uint8, on the same device."""
    return from_model_range(images).permute(0, 2, 3, 1)


@torch.inference_mode()
def sample_chunks(
    family: Family,
    labels: Tensor,
    spec: SampleSpec,
    *,
    seed: int,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
    conds: Mapping[str, Tensor] | None = None,
) -> dict[int, Tensor]:
    """Rank ``rank``'s chunks: ``{k: uint8 (n_k, H, W, C)}`` for every k ≡ rank (mod world_size),
    chunk k being the images of ``labels[k·batch_size : (k+1)·batch_size]``, on the family's
    device.

    ``progress(done, total)`` follows each chunk with the images all ranks have drawn by then
    (the ranks go in step: when this rank ends chunk k, the others end theirs of that round).
    ``conds``: named conditions, one row per label, cut into the same chunks."""
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    device = next(family.net.parameters()).device
    out = {}
    for index, chunk in enumerate(labels.split(batch_size)):
        if index % world_size != rank:
            continue
        generator = torch.Generator(device).manual_seed(chunk_seed(seed, index))
        rows = slice(index * batch_size, index * batch_size + len(chunk))
        extra = {"conds": {k: v[rows].to(device) for k, v in conds.items()}} if conds else {}
        out[index] = to_uint8(family.sample(chunk.to(device), spec, generator, **extra))
        if progress is not None:
            round_end = index - rank + world_size  # chunks of every rank, this round included
            progress(min(round_end * batch_size, len(labels)), len(labels))
    return out


def sample_sharded(
    family: Family,
    labels: Tensor,
    spec: SampleSpec = SampleSpec(),
    *,
    seed: int = 0,
    batch_size: int = 256,
    dist: DistContext = SINGLE,
    progress: Callable[[int, int], None] | None = None,
    conds: Mapping[str, Tensor] | None = None,
) -> np.ndarray | None:
    """One image per label, the chunks shared out over ``dist``'s ranks; every rank calls it.
    Rank 0 alone calls ``progress(images done, total)`` (:func:`sample_chunks`).

    Returns uint8 (N, H, W, C) on rank 0 and None on the others. Under several ranks the
    process group must be joined (``dist.session``); the images are identical for any number
    of ranks (module docstring).
    """
    own = sample_chunks(
        family,
        labels,
        spec,
        seed=seed,
        batch_size=batch_size,
        rank=dist.rank,
        world_size=dist.world_size,
        progress=progress if dist.is_main else None,
        conds=conds,
    )
    if not dist.distributed:
        return torch.cat([own[k] for k in sorted(own)]).cpu().numpy()
    # Each rank writes its chunks into a zeroed buffer of all images; a sum onto rank 0 then
    # assembles them exactly (every pixel comes from one rank, the others add 0).
    device = next(family.net.parameters()).device
    c, h, w = family.image_shape
    full = torch.zeros(len(labels), h, w, c, dtype=torch.uint8, device=device)
    for index, images in own.items():
        full[index * batch_size : index * batch_size + len(images)] = images
    torch_dist.reduce(full, dst=0, op=torch_dist.ReduceOp.SUM)
    return full.cpu().numpy() if dist.is_main else None
