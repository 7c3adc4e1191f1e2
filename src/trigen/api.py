"""The public Python API; it mirrors the CLI (``trigen train`` / ``trigen sample``)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.build import DataSpec, latent_diffusion_family
from trigen.config import FamilyName, TrainConfig
from trigen.device import resolve_device
from trigen.errors import ConfigError
from trigen.families.base import Family, SampleSpec
from trigen.runner import TrainRun, train_run
from trigen.runs import Loaded, load
from trigen.train.budget import BudgetSpent
from trigen.train.distributed import SINGLE, DistContext
from trigen.train.hooks import TrainHooks
from trigen.train.loop import TrainResult
from trigen.train.tensorboard import Logger

__all__ = ["Loaded", "load", "load_official_latent_dit", "sample", "train", "with_net"]

# The largest seed every generator accepts: torch seeds are signed 64-bit and the trainer's loss
# generator uses seed + 1.
MAX_SEED = 2**63 - 2


def train(
    cfg: TrainConfig,
    out: Path,
    *,
    device: str | torch.device = "auto",
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_log: Callable[[dict[str, float]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    init: Callable[[torch.nn.Module], None] | None = None,
    dist: DistContext = SINGLE,
    on_progress: Callable[[BudgetSpent], None] | None = None,
    loggers: Collection[Logger] = (Logger.JSONL,),
) -> TrainResult:
    """Train ``cfg`` into run directory ``out`` (checkpoints, metrics.jsonl, config.json).

    ``on_progress`` (rank 0) gets the budget spent after every step. ``loggers`` with
    :attr:`Logger.TENSORBOARD` also writes TensorBoard events to ``out/tensorboard``: the
    logged scalars, and an EMA sample grid at each checkpoint.

    ``dist`` is this process's place in a data-parallel job (from torchrun); every rank calls
    ``train`` with the same arguments. ``cfg.batch_size`` is the global batch, split evenly
    over ranks; rank 0 alone writes to ``out`` and calls ``on_log``.

    ``init(net)`` runs once on the fresh network before training (e.g. ViT → DiT or GPT-2 → AR
    weights from :mod:`trigen.interop`); a resumed run takes its weights from the checkpoint.

    With ``resume`` the newest valid checkpoint in ``out`` is restored first and the run continues
    exactly; without it, a directory that already holds checkpoints is refused rather than mixed.
    """
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {cfg.seed}")
    dev = dist.device(resolve_device(device))
    if dist.distributed and cfg.family is FamilyName.VQVAE:
        raise ConfigError("the vqvae tokenizer trains on one process; launch it without torchrun")
    hooks = TrainHooks(should_stop, on_log, on_warning, on_progress)
    run = TrainRun(cfg, Path(out), dev, dist.on(dev), resume, init, hooks, frozenset(loggers))
    return train_run(run)


def sample(
    family: Family,
    labels: Tensor,
    spec: SampleSpec = SampleSpec(),
    *,
    seed: int = 0,
    batch_size: int = 256,
    compiled: bool = False,
    conds: Mapping[str, Tensor] | None = None,
    prompts: Sequence[str] | None = None,
    on_warning: Callable[[str], None] = warnings.warn,
) -> np.ndarray:
    """Sample one image per label; returns uint8 (N, H, W, C). Deterministic given ``seed``
    and ``batch_size`` (each chunk of ``batch_size`` labels has its own seeded generator, so
    ``torchrun``'s N processes produce the same images: :mod:`trigen.sampling`).

    ``compiled`` compiles a diffusion network for sampling first (in place; worth it from a few
    thousand images on, :func:`trigen.sampling.compile_for_sampling`); other families ignore it.
    ``conds``: the named conditions (:mod:`trigen.conditions`), one row per label.
    ``prompts``: captions for a model trained with a text condition, one per label or one for
    all (:mod:`trigen.text.prompts`: a prompt longer than the model's text context is cut and
    ``on_warning`` names what was kept; "" is the null caption).
    """
    from trigen.sampling import compile_for_sampling, sample_sharded

    if prompts is not None:
        conds = {**(conds or {}), **_prompt_conds(family, prompts, labels.shape[0], on_warning)}
    if compiled:
        compile_for_sampling(family)
    images = sample_sharded(family, labels, spec, seed=seed, batch_size=batch_size, conds=conds)
    assert images is not None  # one process is its own rank 0
    return images


def _prompt_conds(
    family: Family, prompts: Sequence[str], n: int, warn: Callable[[str], None]
) -> dict[str, Tensor]:
    from trigen.text.prompts import prompt_tokens

    if isinstance(prompts, str):
        prompts = [prompts]
    if len(prompts) not in (1, n):
        raise ConfigError(f"prompts: give one per label ({n}) or one for all, got {len(prompts)}")
    inner = getattr(family, "diffusion", family)  # a latent family conditions its diffusion
    conditioning = getattr(inner, "conditioning", None)
    specs = conditioning.conditions if conditioning is not None else ()
    dropout = conditioning.dropout if conditioning is not None else 0.0
    repeat = n if len(prompts) == 1 else 1
    return prompt_tokens(prompts, specs, dropout=dropout, repeat=repeat, warn=warn)


def with_net(family: Family, net: torch.nn.Module) -> Family:
    """The same family driving another network (e.g. its EMA copy)."""
    return dataclasses.replace(family, net=net)


def load_official_latent_dit(
    dit_checkpoint: Path,
    vae: Path,
    *,
    image_size: int | None = None,
    device: str | torch.device = "cpu",
) -> Loaded:
    """An official DiT checkpoint (facebookresearch/DiT, e.g. ``DiT-XL-2-256x256.pt``) in the
    latent space of the autoencoder ``vae`` (a diffusers ``AutoencoderKL`` directory or a klvae
    run), with DiT's diffusion: linear β schedule over 1000 steps, ε prediction.

    ``image_size`` (pixels) must equal the DiT's latent size × the VAE's downsampling; None
    takes exactly that.
    """
    from trigen.build import load_autoencoder
    from trigen.config import DiffusionOptions
    from trigen.diffusion.process import Prediction
    from trigen.diffusion.schedules import ScheduleKind
    from trigen.interop.dit_official import load_official_dit

    dev = resolve_device(device)
    net = load_official_dit(Path(dit_checkpoint)).to(dev).eval()
    codec = load_autoencoder(vae, dev)
    size = net.cfg.input_size * codec.downsample
    if image_size is not None and image_size != size:
        raise ConfigError(
            f"this DiT works on {net.cfg.input_size}×{net.cfg.input_size} latents, which the VAE "
            f"decodes to {size} px: use --image-size {size} (or leave it out)"
        )
    if net.cfg.in_channels != codec.latent_shape((codec.in_channels, size, size))[0]:
        raise ConfigError(
            f"this DiT takes {net.cfg.in_channels}-channel latents but the VAE makes "
            f"{codec.latent_shape((codec.in_channels, size, size))[0]}"
        )
    options = DiffusionOptions(ScheduleKind.LINEAR, Prediction.EPS, min_snr_gamma=None)
    num_classes = net.cfg.num_classes
    cfg = TrainConfig(
        family=FamilyName.DIT,
        conditional=num_classes > 0,
        resolution=size,
        autoencoder=str(vae),
        diffusion=options,
    )
    pixels = (codec.in_channels, size, size)
    data = DataSpec(pixels, num_classes, tuple(str(i) for i in range(num_classes)))
    return Loaded(latent_diffusion_family(net, codec, cfg, data), cfg, data, 0, 0)
