"""The one training loop every family shares, through the ``family.loss(batch)`` contract."""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from trigen.config import Precision, TrainConfig
from trigen.families.base import Family
from trigen.train import checkpoint as ckpt_io
from trigen.train.budget import BudgetSpent, budget_spent, check_flops_budget
from trigen.train.distributed import SINGLE, DistContext
from trigen.train.ema import EMA
from trigen.train.flops import training_flops_per_image
from trigen.train.hooks import TrainHooks
from trigen.train.memory import compile_in_place, enable_grad_checkpointing, units
from trigen.train.metrics_log import LogWindow, open_metrics_log, write_record
from trigen.train.optim import build_optimizer, learning_rate
from trigen.train.sharded_state import FullOptimizerView, full_tensor
from trigen.train.state import CheckpointState, ResumableLoader, TrainingDiverged


@dataclass
class TrainResult:
    """Where a run ended: ``flops`` is the training FLOPs it spent in all (``images_seen ×
    flops_per_image``, sessions before a resumption included); ``seconds`` this session's."""

    step: int
    images_seen: int
    seconds: float
    images_per_second: float
    last_loss: float
    skipped_steps: int
    checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    flops_per_image: int = 0
    flops: float = 0.0


class Trainer(CheckpointState):
    """Optimises ``family.net`` on batches from ``loader``; keeps EMA, counters and RNG.

    ``cfg.batch_size`` is the global batch: the optimizer steps once per ``cfg.batch_size``
    images, of which each of ``dist.world_size`` ranks feeds ``batch_size // world_size`` through
    ``grad_accum`` forwards (``loader`` yields this rank's micro-batches). Checkpoints land in
    ``run_dir/checkpoints``, written by rank 0 only; only rank 0 logs.

    ``cfg.fsdp`` (several ranks) shards the network and its EMA with FSDP2 instead of DDP;
    ``cfg.grad_checkpointing`` recomputes each unit of the network in backward;
    ``cfg.compile`` compiles the network in place. Checkpoints look the same in every case.

    ``flops_per_image``, one image's training FLOPs, is counted once here, on the bare network
    (:mod:`trigen.train.flops`): a FLOPs budget is spent at ``images_seen × flops_per_image``.

    Writing and restoring checkpoints (``save_checkpoint``, ``resume_latest``, ``restore``) is
    :class:`~trigen.train.state.CheckpointState`'s.
    """

    def __init__(
        self,
        family: Family,
        loader: ResumableLoader,
        cfg: TrainConfig,
        run_dir: Path,
        meta: dict[str, Any] | None = None,
        *,
        dist: DistContext = SINGLE,
    ) -> None:
        dist.local_batch(cfg.batch_size, cfg.grad_accum)  # raises unless it divides evenly
        budget_spent(cfg, 0, 0, 0.0)  # raises unless a budget is set
        self.loader, self.cfg, self.run_dir = loader, cfg, Path(run_dir)
        self.meta = meta or {}
        self.net = family.net  # the raw network: what the optimizer, EMA and checkpoints see
        self.device = next(self.net.parameters()).device
        self.flops_per_image = training_flops_per_image(family, loader, self.device)
        check_flops_budget(cfg, self.flops_per_image)
        self.dist = dist.on(self.device)
        self.sharded = cfg.fsdp and dist.distributed
        if self.sharded:  # FSDP, unlike DDP, does not broadcast rank 0's initial weights
            self.dist.broadcast_module(self.net)
        self.ema = EMA(self.net, cfg.ema_halflife_images, cfg.ema_rampup_ratio)
        if self.sharded:  # the EMA is sharded like the weights it follows: a local update
            self.dist.shard(self.ema.net, units(self.ema.net))
            self.dist.shard(self.net, units(self.net))
        if cfg.grad_checkpointing:
            enable_grad_checkpointing(self.net)
        if cfg.compile:
            compile_in_place(self.net)  # parameter names, hence checkpoints, stay the same
        # The loss runs through the DDP wrapper (its backward averages gradients over ranks):
        # ``self.family.net`` is that wrapper; with one process or FSDP it is ``self.net``.
        wrapped = self.net if self.sharded else self.dist.wrap(self.net)
        self.family = family if wrapped is self.net else dataclasses.replace(family, net=wrapped)
        self.optimizer = build_optimizer(self.net, cfg.lr, cfg.weight_decay)
        self._optimizer_io = FullOptimizerView(self.net, self.optimizer)
        self.generator = torch.Generator(self.device).manual_seed(dist.noise_seed(cfg.seed))
        self.step = 0
        self.images_seen = 0
        self.skipped_steps = 0
        self._bad_in_a_row = 0
        self.best_loss = math.inf  # the lowest window mean loss (CheckpointState)
        self._window_sum, self._window_n = 0.0, 0
        self._iter = iter(loader)

    # ----------------------------------------------------------------------------------- one step
    def _autocast(self):
        if self.cfg.precision is Precision.BF16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _gradient_sync(self, last: bool):
        """Context for one micro-batch's backward: gradients are all-reduced (FSDP:
        reduce-scattered) once, on the last micro-batch of a step."""
        if self.sharded:
            self.net.set_requires_gradient_sync(last)
        if last or self.family.net is self.net:
            return nullcontext()
        return self.family.net.no_sync()

    def _accumulate_gradients(self) -> Tensor:
        """Forward and backward ``grad_accum`` micro-batches; their mean loss (a 0-d tensor)."""
        total = torch.zeros((), device=self.device)
        for micro in range(self.cfg.grad_accum):
            batch = next(self._iter)
            batch = batch.to(self.device, non_blocking=True)
            with self._gradient_sync(last=micro == self.cfg.grad_accum - 1):
                with self._autocast():
                    loss = self.family.loss(batch, self.generator).float().mean()
                    loss = loss / self.cfg.grad_accum
                loss.backward()
            total += loss.detach()
        return total

    def train_step(self, spent: float = 0.0) -> tuple[float, float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns (mean loss, grad norm).
        A step with a non-finite loss or gradient is skipped (too many in a row: diverged).
        ``spent``: the fraction of the budget used up, which sets the lr's cooldown."""
        cfg = self.cfg
        lr = learning_rate(
            cfg.lr, self.images_seen, cfg.warmup_images, spent=spent, cooldown=cfg.lr_cooldown
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        total = self._accumulate_gradients()
        clip = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
        # Averaged over ranks, so every rank takes the same skip/step decision.
        loss_value, norm_value = float(self.dist.mean(total)), float(full_tensor(grad_norm))
        if math.isfinite(loss_value) and math.isfinite(norm_value):
            self.optimizer.step()
            self._bad_in_a_row = 0
            self._window_sum, self._window_n = self._window_sum + loss_value, self._window_n + 1
        else:
            self.skipped_steps += 1
            self._bad_in_a_row += 1
            if self._bad_in_a_row >= cfg.max_bad_steps:
                raise TrainingDiverged(self._divergence_report(loss_value))
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.images_seen += cfg.batch_size
        if self._bad_in_a_row == 0:
            self.ema.update(self.net, cfg.batch_size, self.images_seen)
        return loss_value, norm_value

    def _divergence_report(self, loss: float) -> str:
        norms = sorted(
            (
                (float(full_tensor(p.detach()).float().norm()), n)
                for n, p in self.net.named_parameters()
            ),
            key=lambda item: -item[0] if math.isfinite(item[0]) else -math.inf,
        )
        worst = ", ".join(f"{n}={v:.3g}" for v, n in norms[:3])
        return (
            f"training diverged at step {self.step}: {self._bad_in_a_row} steps in a row had a "
            f"non-finite loss or gradient (last loss {loss}); largest weight norms: {worst}; "
            "lower --lr, raise warm-up, or use fp32"
        )

    # ----------------------------------------------------------------------------------- run
    def _budget(self, started: float) -> BudgetSpent:
        """The budget spent so far; a minutes budget counts this session only."""
        seconds = time.perf_counter() - started
        return budget_spent(self.cfg, self.step, self.images_seen, seconds, self.flops_per_image)

    def _cooldown_fraction(self, spent: BudgetSpent) -> float:
        """``spent.fraction``, the same on every rank (0 without a cooldown, which is all it is
        used for)."""
        if self.cfg.lr_cooldown <= 0:
            return 0.0
        if self.cfg.max_minutes is not None:  # clocks differ between ranks; the lr must not
            return float(self.dist.mean(torch.tensor(spent.fraction, device=self.device)))
        return spent.fraction

    def run(self, hooks: TrainHooks = TrainHooks()) -> TrainResult:
        """Train until the budget is spent or ``hooks.should_stop()``; checkpoint along the way.

        Rank 0 alone calls the other ``hooks``; ``on_checkpoint`` runs under its own RNG state,
        so what it draws leaves training as is.
        """
        cfg, main = self.cfg, self.dist.is_main
        hooks = hooks.on_rank(main)
        started = time.perf_counter()
        first_images, last_loss, path = self.images_seen, math.nan, None
        window = LogWindow(started)
        history: list[dict[str, float]] = []
        hooks.progress(self._budget(started))
        with open_metrics_log(self.run_dir, self.step, main) as log:
            while self.dist.all_agree(
                not self._budget(started).exhausted and not hooks.should_stop(), self.device
            ):
                fraction = self._cooldown_fraction(self._budget(started))
                last_loss, grad_norm = self.train_step(fraction)
                window.add(last_loss, cfg.batch_size)
                if self.step % cfg.log_every == 0 and log is not None:
                    record = window.close(
                        started,
                        step=self.step,
                        images=self.images_seen,
                        flops=self.images_seen * self.flops_per_image,
                        grad_norm=grad_norm,
                        lr=self.optimizer.param_groups[0]["lr"],
                        skipped=self.skipped_steps,
                    )
                    write_record(log, record)
                    history.append(record)
                    hooks.log(record)
                if self.step % cfg.checkpoint_every == 0:
                    path = self._checkpoint(hooks)
                hooks.progress(self._budget(started))
            if self.dist.from_main(not ckpt_io.is_newest(path, self.step), self.device):
                path = self._checkpoint(hooks)  # the run ends on a checkpoint of its last step
        hooks.progress(self._budget(started))  # the minutes budget ends between steps
        seconds = time.perf_counter() - started
        return TrainResult(
            step=self.step,
            images_seen=self.images_seen,
            seconds=seconds,
            images_per_second=(self.images_seen - first_images) / max(seconds, 1e-9),
            last_loss=last_loss,
            skipped_steps=self.skipped_steps,
            checkpoint=path,
            history=history,
            flops_per_image=self.flops_per_image,
            flops=float(self.images_seen * self.flops_per_image),
        )

    def _checkpoint(self, hooks: TrainHooks) -> Path | None:
        """Save a checkpoint and tell ``hooks`` (rank 0) under a forked RNG state."""
        saved = self.save_checkpoint()
        if saved is not None and hooks.on_checkpoint is not None:
            with torch.random.fork_rng(devices=self._cuda_devices()):
                hooks.on_checkpoint(saved, self.images_seen)
        return saved

    def _cuda_devices(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []
