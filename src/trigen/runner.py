"""A training run from its config to its last checkpoint, behind :func:`trigen.api.train`.

The steps, in order: hold the run directory's lock (rank 0) → tidy what a killed run left →
load the data → build the family (:mod:`trigen.build`) → encode latents if the family works in
an autoencoder's latent space → build the loader → :class:`~trigen.train.loop.Trainer` (restored
with ``resume``) → run it with the caller's callbacks and log sinks → the family's after-training
step (a KL autoencoder measures its latent scale).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from trigen.atomic import atomic_write_text
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig
from trigen.errors import CheckpointError, ConfigError, TrigenError
from trigen.families.base import Family, SampleSpec
from trigen.runs import after_training, autoencoder_channels, load
from trigen.train import checkpoint as ckpt_io
from trigen.train.distributed import DistContext
from trigen.train.hooks import TrainHooks
from trigen.train.lock import RunLock
from trigen.train.loop import Trainer, TrainResult
from trigen.train.metrics_log import METRICS_FILE
from trigen.train.tensorboard import TENSORBOARD_DIR, Logger, TensorBoardLog, require_tensorboard

GRID_ROW = 8  # images per row of the sample grids (one row per class)
RUN_FILES = ("checkpoints", "config.json", METRICS_FILE, TENSORBOARD_DIR)
"""Everything trigen writes in a run directory; each must resolve inside it."""


@dataclass(frozen=True)
class TrainRun:
    """One training run: what to train (``cfg``), where (``out``, ``device``, ``dist``), whether
    it continues an earlier one (``resume``), ``init(net)`` for fresh weights, the caller's
    ``hooks`` and the ``loggers`` its records go to."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    dist: DistContext
    resume: bool = False
    init: Callable[[torch.nn.Module], None] | None = None
    hooks: TrainHooks = field(default_factory=TrainHooks)
    loggers: frozenset[Logger] = frozenset({Logger.JSONL})

    def warn(self, note: str) -> None:
        """Pass ``note`` to the caller (rank 0 only)."""
        self.hooks.on_rank(self.dist.is_main).warn(note)


def train_run(run: TrainRun) -> TrainResult:
    """Carry out ``run``; every rank of a torchrun job calls it with the same run."""
    if Logger.TENSORBOARD in run.loggers:
        require_tensorboard()  # before any work: a missing package is a one-line error
    try:
        # One lock per run directory: rank 0 holds it for the whole job.
        with RunLock(run.out) if run.dist.is_main else nullcontext(), run.dist.session(run.device):
            return _train_locked(run)
    except OSError as err:
        if err.errno in ckpt_io.DISK_FULL:
            raise ckpt_io.disk_full_error(err, f"the run directory {run.out}") from None
        if err.filename is not None:  # a path the user gave that cannot be read or written
            raise TrigenError(
                f"cannot access {err.filename} ({err.strerror}): check the path and its "
                "permissions, or choose another --out directory"
            ) from None
        raise


def _train_locked(run: TrainRun) -> TrainResult:
    """:func:`train_run` once this process holds the run directory's lock."""
    cfg, dist = run.cfg, run.dist
    _prepare_directory(run)
    dataset, spec = data_spec_for(cfg, run.warn)
    if cfg.autoencoder:  # the autoencoder's channel count decides the pixel shape
        dataset, spec = _with_autoencoder_channels(cfg, dataset, spec)
    torch.manual_seed(cfg.seed)
    family = build_family(cfg, spec, run.device)
    from trigen.train.precision import bf16_slow_warning

    if note := bf16_slow_warning(cfg.precision, run.device):
        run.warn(note)
    if cfg.autoencoder:  # latent diffusion trains on the dataset encoded once, from a cache
        dataset = _latent_training_data(run, family, dataset)
    if run.init is not None and not run.resume:
        run.init(family.net)
    if dist.rank:  # dropout differs across ranks; rank 0 keeps the single-process stream
        torch.manual_seed(cfg.seed + dist.rank)
    trainer = Trainer(
        family, _loader(run, dataset), cfg, run.out, {"data": spec.to_dict()}, dist=dist
    )
    if run.resume:
        trainer.resume_latest(warn=run.warn)
    if dist.is_main:
        config = {
            "config": cfg.to_dict(),
            "data": spec.to_dict(),
            "flops_per_image": trainer.flops_per_image,  # training FLOPs: × images seen
        }
        atomic_write_text(run.out / "config.json", json.dumps(config, indent=1))
    result = _run_trainer(run, trainer)
    if dist.is_main and result.checkpoint is not None:
        after_training(cfg, result.checkpoint, run.device)
    return result


def _prepare_directory(run: TrainRun) -> None:
    """Check the run directory: no link sends a file elsewhere, what a killed writer left is
    tidied, and a fresh run does not mix with an earlier one's checkpoints."""
    for name in RUN_FILES:
        ckpt_io.check_inside(run.out / name, run.out)
    if run.dist.is_main:
        for note in ckpt_io.clean_temporaries(run.out / "checkpoints"):
            run.warn(note)
    run.dist.barrier()
    if not run.resume and ckpt_io.list_checkpoints(run.out / "checkpoints"):
        raise CheckpointError(
            f"{run.out} already holds checkpoints; pass --resume to continue that run "
            "or choose another --out directory"
        )


def _loader(run: TrainRun, dataset):
    """This rank's resumable batch loader over ``dataset``."""
    from trigen.data.loader import BatchLoader

    cfg, dist = run.cfg, run.dist
    batch = dist.local_batch(cfg.batch_size, cfg.grad_accum)
    return BatchLoader(
        dataset, batch, seed=cfg.seed, flip=cfg.flip, rank=dist.rank, world_size=dist.world_size
    )


def _run_trainer(run: TrainRun, trainer: Trainer) -> TrainResult:
    """``trainer.run`` with the run's callbacks, and TensorBoard when asked for (rank 0)."""
    hooks = run.hooks
    tb = None
    if Logger.TENSORBOARD in run.loggers and run.dist.is_main:
        tb = TensorBoardLog(run.out / TENSORBOARD_DIR, purge_from=trainer.images_seen + 1)
        hooks = dataclasses.replace(
            hooks,
            on_log=_logging_to(tb, hooks.on_log),
            on_checkpoint=_grid_to(tb, run, trainer.family),
        )
    try:
        return trainer.run(hooks)
    finally:
        if tb is not None:
            tb.close()


def data_spec_for(cfg: TrainConfig, warn: Callable[[str], None] = print):
    """Load the training split named by ``cfg`` and describe it; returns (dataset, DataSpec).
    ``warn`` hears of captions cut to the text context."""
    from trigen.data.datasets import load_dataset

    conditions = ()
    if cfg.conditions:
        from trigen.conditions_data import default_cache_dir, load_conditioned

        data = load_conditioned(cfg, "train", cache_dir=default_cache_dir())
        dataset, conditions = data.dataset, data.specs
        if data.truncated:
            warn(
                f"{data.truncated} of {len(data.captions)} training captions are longer than "
                f"text_length {cfg.text_length} tokens and were cut to it"
            )
    else:
        dataset = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=cfg.resolution)
    num_classes = dataset.num_classes if cfg.conditional else 0
    shape = tuple(dataset.images.shape[1:])
    spec = DataSpec(shape, num_classes, tuple(dataset.class_names), conditions)
    return dataset, spec


def _logging_to(tb: TensorBoardLog, on_log):
    """``on_log`` that also writes each record to ``tb``."""

    def log(record: dict[str, float]) -> None:
        tb.scalars(record)
        if on_log is not None:
            on_log(record)

    return log


def _grid_to(tb: TensorBoardLog, run: TrainRun, family: Family):
    """``on_checkpoint`` writing the EMA sample grid of each checkpoint to ``tb`` (the grid of
    ``trigen train``'s samples.png: a row of 8 per class, seed 0); none for a ``family`` that
    draws no samples (a tokenizer)."""
    if not family.draws_samples:
        return None

    def on_checkpoint(path: Path, images_seen: int) -> None:
        from trigen.report.grids import make_grid
        from trigen.sampling import class_labels, sample_sharded

        loaded = load(path, device=run.device, on_warning=run.hooks.on_warning)
        classes = loaded.data.num_classes
        labels = class_labels(classes, GRID_ROW, "all") if classes else class_labels(0, GRID_ROW**2)
        images = sample_sharded(loaded.family, labels, SampleSpec(), seed=0)
        tb.grid(make_grid(images, nrow=GRID_ROW), images_seen)

    return on_checkpoint


def _with_autoencoder_channels(cfg: TrainConfig, dataset, spec: DataSpec):
    """(dataset, spec) with the channel count of ``cfg.autoencoder`` (e.g. MNIST → RGB)."""
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


def _latent_training_data(run: TrainRun, family: Family, dataset):
    """The training set encoded by the family's codec, cached in ``out/latents``."""
    from trigen.data.latents import latent_dataset

    cfg, dist, out = run.cfg, run.dist, run.out
    directory = ckpt_io.check_inside(out / "latents", out)
    key = {"dataset": cfg.dataset, "data_root": cfg.data_root, "split": "train"}
    key["resolution"] = cfg.resolution
    codec = family.codec  # type: ignore[attr-defined]  (a latent family)
    if dist.is_main:
        latents = latent_dataset(codec, dataset, key, directory, run.device, on_note=run.warn)
    dist.barrier()  # rank 0 wrote the cache; the other ranks read the same file
    if not dist.is_main:
        latents = latent_dataset(codec, dataset, key, directory, run.device, write=False)
    return latents
