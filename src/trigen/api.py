"""The public Python API; it mirrors the CLI (``trigen train`` / ``trigen sample``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.atomic import atomic_write_text
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.errors import CheckpointError, ConfigError, TrigenError
from trigen.families.base import Family, SampleSpec
from trigen.train import checkpoint as ckpt_io
from trigen.train.budget import BudgetSpent
from trigen.train.distributed import SINGLE, DistContext
from trigen.train.lock import RunLock
from trigen.train.loop import Trainer, TrainResult
from trigen.train.tensorboard import (
    TENSORBOARD_DIR,
    Logger,
    TensorBoardLog,
    require_tensorboard,
)

# The largest seed every generator accepts: torch seeds are signed 64-bit and the trainer's loss
# generator uses seed + 1.
MAX_SEED = 2**63 - 2
GRID_ROW = 8  # images per row of the sample grids (one row per class)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available; use --device cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None


def data_spec_for(cfg: TrainConfig):
    """Load the training split named by ``cfg`` and describe it; returns (dataset, DataSpec)."""
    from trigen.data.datasets import load_dataset

    dataset = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=cfg.resolution)
    num_classes = dataset.num_classes if cfg.conditional else 0
    spec = DataSpec(tuple(dataset.images.shape[1:]), num_classes, tuple(dataset.class_names))
    return dataset, spec


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
    out = Path(out)
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {cfg.seed}")
    dev = dist.device(device if isinstance(device, torch.device) else resolve_device(device))
    dist = dist.on(dev)
    if dist.distributed and cfg.family is FamilyName.VQVAE:
        raise ConfigError("the vqvae tokenizer trains on one process; launch it without torchrun")
    if Logger.TENSORBOARD in loggers:
        require_tensorboard()  # before any work: a missing package is a one-line error
    try:
        # One lock per run directory: rank 0 holds it for the whole job.
        with RunLock(out) if dist.is_main else nullcontext(), dist.session(dev):
            hooks = _Hooks(should_stop, on_log, on_warning, on_progress, frozenset(loggers))
            return _train_locked(cfg, out, dev, resume, hooks, init, dist)
    except OSError as err:
        if err.errno in ckpt_io.DISK_FULL:
            raise ckpt_io.disk_full_error(err, f"the run directory {out}") from None
        if err.filename is not None:  # a path the user gave that cannot be read or written
            raise TrigenError(
                f"cannot access {err.filename} ({err.strerror}): check the path and its "
                "permissions, or choose another --out directory"
            ) from None
        raise


@dataclass(frozen=True)
class _Hooks:
    """The callbacks and log sinks of one :func:`train` call."""

    should_stop: Callable[[], bool]
    on_log: Callable[[dict[str, float]], None] | None
    on_warning: Callable[[str], None] | None
    on_progress: Callable[[BudgetSpent], None] | None
    loggers: frozenset[Logger]


def _train_locked(
    cfg: TrainConfig,
    out: Path,
    dev: torch.device,
    resume: bool,
    hooks: _Hooks,
    init: Callable[[torch.nn.Module], None] | None = None,
    dist: DistContext = SINGLE,
) -> TrainResult:
    """:func:`train` once this process holds the run directory's lock."""
    from trigen.data.loader import BatchLoader

    on_warning = hooks.on_warning
    # Every file trigen writes for the run lies under these; a link planted in the run
    # directory must not send checkpoints elsewhere.
    for name in ("checkpoints", "config.json", "metrics.jsonl", TENSORBOARD_DIR):
        ckpt_io.check_inside(out / name, out)
    if dist.is_main:
        for note in ckpt_io.clean_temporaries(out / "checkpoints"):
            if on_warning is not None:
                on_warning(note)
    dist.barrier()
    if not resume and ckpt_io.list_checkpoints(out / "checkpoints"):
        raise CheckpointError(
            f"{out} already holds checkpoints; pass --resume to continue that run "
            "or choose another --out directory"
        )
    dataset, spec = data_spec_for(cfg)
    if cfg.autoencoder:  # the autoencoder's channel count decides the pixel shape
        dataset, spec = _with_autoencoder_channels(cfg, dataset, spec)
    torch.manual_seed(cfg.seed)
    family = build_family(cfg, spec, dev)
    if dist.is_main and on_warning is not None:
        from trigen.train.precision import bf16_slow_warning

        if note := bf16_slow_warning(cfg.precision, dev):
            on_warning(note)
    if cfg.autoencoder:  # latent diffusion trains on the dataset encoded once, from a cache
        dataset = _latent_training_data(cfg, family, dataset, out, dev, dist, on_warning)
    if init is not None and not resume:
        init(family.net)
    if dist.rank:  # dropout differs across ranks; rank 0 keeps the single-process stream
        torch.manual_seed(cfg.seed + dist.rank)
    loader = BatchLoader(
        dataset,
        dist.local_batch(cfg.batch_size, cfg.grad_accum),
        seed=cfg.seed,
        flip=cfg.flip,
        rank=dist.rank,
        world_size=dist.world_size,
    )
    trainer = Trainer(family, loader, cfg, out, meta={"data": spec.to_dict()}, dist=dist)
    if resume:
        trainer.resume_latest(warn=on_warning if dist.is_main else None)
    if dist.is_main:
        _write_json(out / "config.json", {"config": cfg.to_dict(), "data": spec.to_dict()})
    tb = None
    if Logger.TENSORBOARD in hooks.loggers and dist.is_main:
        tb = TensorBoardLog(out / TENSORBOARD_DIR, purge_from=trainer.images_seen + 1)
    try:
        result = trainer.run(
            should_stop=hooks.should_stop,
            on_log=_logging_to(tb, hooks.on_log),
            on_progress=hooks.on_progress,
            on_checkpoint=None if tb is None else _grid_to(tb, cfg, dev, on_warning),
        )
    finally:
        if tb is not None:
            tb.close()
    if cfg.family is FamilyName.KLVAE and dist.is_main and result.checkpoint is not None:
        from trigen.build import load_autoencoder

        load_autoencoder(result.checkpoint, dev)  # computes and stores its latent scale factor
    return result


def _logging_to(tb: TensorBoardLog | None, on_log):
    """``on_log`` that also writes each record to ``tb``."""
    if tb is None:
        return on_log

    def log(record: dict[str, float]) -> None:
        tb.scalars(record)
        if on_log is not None:
            on_log(record)

    return log


def _grid_to(tb: TensorBoardLog, cfg: TrainConfig, dev: torch.device, on_warning):
    """``on_checkpoint`` writing the EMA sample grid of each checkpoint to ``tb`` (the grid of
    ``trigen train``'s samples.png: a row of 8 per class, seed 0)."""
    if cfg.family is FamilyName.VQVAE:  # a tokenizer draws no samples
        return None

    def on_checkpoint(path: Path, images_seen: int) -> None:
        from trigen.report.grids import make_grid
        from trigen.sampling import sample_sharded

        loaded = load(path, device=dev, on_warning=on_warning)
        classes = loaded.data.num_classes
        n = GRID_ROW if classes else GRID_ROW * GRID_ROW
        labels = parse_labels("all" if classes else None, classes, n)
        images = sample_sharded(loaded.family, labels, SampleSpec(), seed=0)
        tb.grid(make_grid(images, nrow=GRID_ROW), images_seen)

    return on_checkpoint


def _with_autoencoder_channels(cfg: TrainConfig, dataset, spec: DataSpec):
    """(dataset, spec) with the channel count of ``cfg.autoencoder`` (e.g. MNIST → RGB)."""
    from trigen.build import autoencoder_channels
    from trigen.data.transforms import convert_channels

    if cfg.flip:
        raise ConfigError(
            "flip does not apply to latent diffusion (latents are cached once); set flip=false"
        )
    channels = autoencoder_channels(cfg.autoencoder)
    if channels == spec.image_shape[0]:
        return dataset, spec
    dataset = dataclasses.replace(dataset, images=convert_channels(dataset.images, channels))
    return dataset, dataclasses.replace(spec, image_shape=tuple(dataset.images.shape[1:]))


def _latent_training_data(cfg, family, dataset, out: Path, dev, dist, on_warning):
    """The training set encoded by the family's codec, cached in ``out/latents``."""
    from trigen.data.latents import latent_dataset

    directory = ckpt_io.check_inside(out / "latents", out)
    key = {"dataset": cfg.dataset, "data_root": cfg.data_root, "split": "train"}
    key["resolution"] = cfg.resolution
    if dist.is_main:
        latents = latent_dataset(family.codec, dataset, key, directory, dev, on_note=on_warning)
    dist.barrier()  # rank 0 wrote the cache; the other ranks read the same file
    if not dist.is_main:
        latents = latent_dataset(family.codec, dataset, key, directory, dev, write=False)
    return latents


@dataclass
class Loaded:
    """A family rebuilt from a checkpoint, with the config and data it was trained on."""

    family: Family
    config: TrainConfig
    data: DataSpec
    step: int
    images_seen: int


def load(
    path: Path,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
    on_warning: Callable[[str], None] | None = None,
) -> Loaded:
    """Rebuild the family of a checkpoint (or of a run directory's newest valid one).

    Newer checkpoints of a run directory that fail verification are skipped, each reported
    through ``on_warning``.
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    ckpt = ckpt_io.load(Path(path), warn=on_warning)
    try:
        cfg = TrainConfig.from_dict(ckpt.config)
        spec = DataSpec.from_dict(ckpt.extra["meta"]["data"])
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise CheckpointError(
            f"{path} has an unreadable configuration ({err}); it was altered or written by "
            "another trigen version"
        ) from None
    family = build_family(cfg, spec, dev)
    weights = ckpt.tensors["ema.safetensors" if ema else "model.safetensors"]
    ckpt_io.load_weights(family.net, weights, f"checkpoint {path}")
    family.net.eval()
    if cfg.family is FamilyName.KLVAE:  # its samples decode latents of the data's spread
        from trigen.build import autoencoder_scale_factor, checkpoint_dir

        name = "ema.safetensors" if ema else "model.safetensors"
        where = checkpoint_dir(Path(path))
        family.scale_factor = autoencoder_scale_factor(where, name, family.net, cfg, spec)
    return Loaded(family, cfg, spec, ckpt.step, ckpt.images_seen)


def parse_labels(text: str | None, num_classes: int, n: int) -> Tensor:
    """``"all"`` → each class n times (a row per class); ``"3,1,4"`` → cycled to n; None → all."""
    null = num_classes
    if num_classes == 0:
        if text not in (None, "", "null", "none"):
            raise ConfigError("this model is unconditional; drop --labels")
        return torch.full((n,), null, dtype=torch.long)
    if text in (None, ""):
        return torch.arange(n) % num_classes
    if text == "all":
        return torch.arange(num_classes).repeat_interleave(n)
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"--labels must be 'all' or comma-separated class indices, got {text!r}"
        ) from None
    bad = [v for v in values if not 0 <= v < num_classes]
    if not values or bad:
        raise ConfigError(f"labels must be class indices in 0..{num_classes - 1}, got {text!r}")
    return torch.tensor(values, dtype=torch.long).repeat(-(-n // len(values)))[:n]


def sample(
    family: Family,
    labels: Tensor,
    spec: SampleSpec = SampleSpec(),
    *,
    seed: int = 0,
    batch_size: int = 256,
    compiled: bool = False,
) -> np.ndarray:
    """Sample one image per label; returns uint8 (N, H, W, C). Deterministic given ``seed``
    and ``batch_size`` (each chunk of ``batch_size`` labels has its own seeded generator, so
    ``torchrun``'s N processes produce the same images: :mod:`trigen.sampling`).

    ``compiled`` compiles a diffusion network for sampling first (in place; worth it from a few
    thousand images on, :func:`trigen.sampling.compile_for_sampling`); other families ignore it.
    """
    from trigen.sampling import compile_for_sampling, sample_sharded

    if compiled:
        compile_for_sampling(family)
    images = sample_sharded(family, labels, spec, seed=seed, batch_size=batch_size)
    assert images is not None  # one process is its own rank 0
    return images


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))


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
    from trigen.diffusion.schedules import NoiseSchedule, ScheduleKind
    from trigen.families.diffusion import DiffusionFamily
    from trigen.families.latent import LatentDiffusionFamily
    from trigen.interop.dit_official import load_official_dit

    dev = device if isinstance(device, torch.device) else resolve_device(device)
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
    latent = (net.cfg.in_channels, net.cfg.input_size, net.cfg.input_size)
    diffusion = DiffusionFamily(
        net=net,
        schedule=NoiseSchedule.from_kind(options.schedule),
        prediction=options.prediction,
        num_classes=num_classes,
        image_shape=latent,
        data_range=None,
        clip_denoised=False,
    )
    pixels = (codec.in_channels, size, size)
    family = LatentDiffusionFamily(net, diffusion, codec, num_classes, pixels)
    cfg = TrainConfig(
        family=FamilyName.DIT,
        conditional=num_classes > 0,
        resolution=size,
        autoencoder=str(vae),
        diffusion=options,
    )
    data = DataSpec(pixels, num_classes, tuple(str(i) for i in range(num_classes)))
    return Loaded(family, cfg, data, step=0, images_seen=0)
