"""A trainer's checkpoint/resume state: what a checkpoint holds to continue a run exactly.

That is the weights, the EMA, the optimizer, the counters, the data order and every rank's RNG
streams; :class:`CheckpointState` writes them as a
:class:`~trigen.train.checkpoint.Checkpoint` and restores them, for
:class:`~trigen.train.loop.Trainer`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch

from trigen.batch import Batch
from trigen.config import TrainConfig
from trigen.errors import CheckpointError, TrigenError
from trigen.train import checkpoint as ckpt_io
from trigen.train.distributed import Backend, DistContext
from trigen.train.ema import EMA
from trigen.train.optim import optimizer_from_tensors, optimizer_to_tensors
from trigen.train.sharded_state import FullOptimizerView, full_state_dict, load_full_state_dict

# Settings that may differ between a run and its resumption; all others must match. How the
# work is laid out (sharding, recomputation, compilation) does not change what is computed.
RESUMABLE_CHANGES = frozenset(
    {
        "max_steps",
        "max_images",
        "max_minutes",
        "max_flops",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "grad_checkpointing",
        "compile",
        "fsdp",
    }
)


class TrainingDiverged(TrigenError):
    """Too many consecutive steps had a non-finite loss or gradient."""


class ResumableLoader(Protocol):
    def __iter__(self) -> Iterator[Batch]: ...
    def __next__(self) -> Batch: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CheckpointState:
    """The checkpoint half of a trainer: the attributes below, to a checkpoint and back.

    The mean training loss of each checkpoint's window (the steps since the previous one) is
    kept too: the checkpoint with the lowest is kept as ``checkpoints/best/``, which pruning
    never deletes.
    """

    cfg: TrainConfig
    run_dir: Path
    meta: dict[str, Any]
    net: torch.nn.Module  # the raw network (not a DDP wrapper)
    ema: EMA
    _optimizer_io: FullOptimizerView
    generator: torch.Generator  # the loss's noise
    loader: ResumableLoader
    dist: DistContext
    device: torch.device
    step: int
    images_seen: int
    skipped_steps: int
    best_loss: float
    _window_sum: float  # of the losses of the current checkpoint window's steps
    _window_n: int
    _iter: Iterator[Batch]  # the loader's iterator

    def to_checkpoint(
        self, model_state: dict[str, torch.Tensor] | None = None
    ) -> ckpt_io.Checkpoint:
        """The run's state as a :class:`~trigen.train.checkpoint.Checkpoint`; a collective.

        Under FSDP only rank 0's copy holds the (gathered, whole) tensors. ``model_state``: the
        network's full state_dict when the caller already gathered it.
        """
        if model_state is None:
            model_state = full_state_dict(self.net)
        ema_state = full_state_dict(self.ema.net)
        opt_tensors, groups = optimizer_to_tensors(self._optimizer_io)
        rng = self._rng_states()
        return ckpt_io.Checkpoint(
            config=self.cfg.to_dict(),
            step=self.step,
            images_seen=self.images_seen,
            tensors={
                "model.safetensors": model_state,
                "ema.safetensors": ema_state,
                "optim.safetensors": opt_tensors,
                "rng.safetensors": rng,
            },
            extra={
                "param_groups": groups,
                "loader": self.loader.state_dict(),
                "skipped_steps": self.skipped_steps,
                "best_loss": self.best_loss if math.isfinite(self.best_loss) else None,
                "world_size": self.dist.world_size,
                "meta": self.meta,
            },
        )

    def _rng_states(self) -> dict[str, torch.Tensor]:
        """Every rank's RNG states (a collective: all ranks call it). Rank 0's keep the
        single-process names; rank r's carry the suffix ``.rank<r>``."""
        own = {"torch_cpu": torch.get_rng_state(), "loss_generator": self.generator.get_state()}
        if self.device.type == "cuda":
            own["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        comm = self.device if self.dist.backend is Backend.NCCL else torch.device("cpu")
        rng = {}
        for name, state in own.items():
            for rank, s in enumerate(self.dist.gather_states(state, comm)):
                rng[_rank_key(name, rank)] = s
        return rng

    def restore(self, ckpt: ckpt_io.Checkpoint) -> None:
        """Continue from ``ckpt`` exactly: weights, EMA, optimizer, counters, data order, RNG."""
        _check_resumable(self.cfg, ckpt, self.dist.world_size)
        load_full_state_dict(self.net, ckpt.tensors["model.safetensors"], "checkpoint model")
        load_full_state_dict(self.ema.net, ckpt.tensors["ema.safetensors"], "checkpoint EMA")
        try:  # the rest comes from trigen's own files; anything odd means they were altered
            optimizer_from_tensors(
                self._optimizer_io, ckpt.tensors["optim.safetensors"], ckpt.extra["param_groups"]
            )
            rng = ckpt.tensors["rng.safetensors"]
            rank = self.dist.rank
            torch.set_rng_state(rng[_rank_key("torch_cpu", rank)])
            self.generator.set_state(rng[_rank_key("loss_generator", rank)])
            if _rank_key("torch_cuda", rank) in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng[_rank_key("torch_cuda", rank)], self.device)
            self.loader.load_state_dict(ckpt.extra["loader"])
            best = ckpt.extra.get("best_loss")
            self.best_loss = math.inf if best is None else float(best)
            self.skipped_steps = int(ckpt.extra.get("skipped_steps", 0))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(
                f"the checkpoint's optimizer, RNG or loader state is unusable ({err!r}); "
                "resume from an earlier checkpoint or start a new run directory"
            ) from None
        self._iter = iter(self.loader)
        self.step, self.images_seen = ckpt.step, ckpt.images_seen
        self._window_sum, self._window_n = 0.0, 0

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint (rank 0) and wait for it on every rank; its path on rank 0, None
        elsewhere. All ranks must call it: it gathers their RNG states."""
        model_state = full_state_dict(self.net)  # under FSDP: whole on rank 0, empty elsewhere
        weights = [t for t in model_state.values() if t.is_floating_point()]
        finite = all(bool(torch.isfinite(t).all()) for t in weights)
        if not self.dist.from_main(finite, self.device):
            raise TrainingDiverged(
                f"refusing to save a checkpoint with non-finite weights at step {self.step}"
            )
        window = self._window_sum / self._window_n if self._window_n else math.inf
        is_best = window < self.best_loss
        if is_best:
            self.best_loss = window
        self._window_sum, self._window_n = 0.0, 0
        directory = self.run_dir / "checkpoints"
        ckpt = self.to_checkpoint(model_state)
        path = None
        if self.dist.is_main:
            path = ckpt_io.save(ckpt, directory)
            ckpt_io.prune(directory, self.cfg.keep_checkpoints)
            if is_best:
                ckpt_io.mark_best(path, directory)
        self.dist.barrier()
        return path

    def resume_latest(self, warn: Callable[[str], None] | None = None) -> bool:
        """Restore the newest valid checkpoint of this run directory; True if there was one."""
        directory = self.run_dir / "checkpoints"
        path = ckpt_io.latest_valid(directory, warn=warn)
        if path is None:
            invalid = ckpt_io.list_checkpoints(directory)
            if invalid:  # starting afresh would overwrite them: leave the choice to the user
                raise CheckpointError(
                    f"none of the {len(invalid)} checkpoints in {directory} is valid; move them "
                    "away to start afresh, or choose another --out directory"
                )
            return False
        self.restore(ckpt_io.load(path))
        return True


def _check_resumable(cfg: TrainConfig, ckpt: ckpt_io.Checkpoint, world_size: int) -> None:
    """CheckpointError unless a run of ``cfg`` on ``world_size`` processes may continue
    ``ckpt``: the same settings (but for :data:`RESUMABLE_CHANGES`), the same process count."""
    ours, theirs = cfg.to_dict(), ckpt.config
    changed = sorted(
        k
        for k in ours.keys() | theirs.keys()
        if k not in RESUMABLE_CHANGES and ours.get(k) != theirs.get(k)
    )
    if changed:
        raise CheckpointError(
            "cannot resume: the checkpoint was trained with different settings "
            f"({', '.join(changed)}); "
            "resume with the same configuration or start a new run directory"
        )
    trained_on = int(ckpt.extra.get("world_size", 1))
    if trained_on != world_size:
        raise CheckpointError(
            f"cannot resume: the checkpoint was trained by {trained_on} process(es), this "
            f"run has {world_size}; resume with the same number of processes"
        )


def _rank_key(name: str, rank: int) -> str:
    """Key of rank ``rank``'s RNG state ``name`` in rng.safetensors."""
    return name if rank == 0 else f"{name}.rank{rank}"
