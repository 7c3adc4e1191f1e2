"""Data-parallel training: two gloo processes on CPU train exactly what one process trains.

The equivalence run calls :func:`_worker` in two worker processes (``run_workers``); both
processes and the single-process reference build their run with :func:`make_run`, so they share
one definition of model, data and loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.errors import CheckpointError, ConfigError
from trigen.train import checkpoint as ckpt_io
from trigen.train.distributed import SINGLE, Backend, DistContext
from trigen.train.loop import Trainer

from ..distributed_helpers import run_workers
from .helpers import LossOnly, rank_loader, train_with_resume

WORLD = 2
STEPS = 4
RESUME_AT = 2  # the 2-process run stops here, saves, and a fresh Trainer resumes it
WORKER_TIMEOUT_S = 120
ATOL = 1e-5


@dataclass
class DeterministicFamily(LossOnly):
    """A loss with no randomness: its gradient on a batch is a function of the batch alone, so
    splitting the batch over ranks must not change the update."""

    net: nn.Module
    num_classes: int = 1
    image_shape: tuple[int, int, int] = (1, 8, 8)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        pred = self.net(batch.images)
        return (pred + batch.images.flip(-1)).pow(2).flatten(1).mean(1)  # (B,)


def make_config(max_steps: int | None = STEPS, **changes) -> TrainConfig:
    return TrainConfig(
        **{
            "batch_size": 8,
            "grad_accum": 2,  # exercises DDP's no_sync on the first micro-batch
            "lr": 1e-2,
            "warmup_images": 0,
            "max_steps": max_steps,
            "log_every": 1,
            "checkpoint_every": 100,
            "ema_halflife_images": 32,
            **changes,
        }
    )


def make_run(run_dir: Path, dist: DistContext, max_steps: int | None = STEPS, **changes) -> Trainer:
    """The same network (seed 0), data and config on every rank and in the reference run."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 1))
    images = torch.randint(0, 256, (32, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    data = ImageDataset(
        images.to(torch.uint8), torch.zeros(32, dtype=torch.long), 1, ["x"], "synthetic"
    )
    cfg = make_config(max_steps, **changes)
    return Trainer(DeterministicFamily(net), rank_loader(data, cfg, dist), cfg, run_dir, dist=dist)


def _worker(dist: DistContext, run_dir: Path) -> None:
    """One rank: train to RESUME_AT, then resume in a fresh Trainer and train to STEPS."""
    trainer = train_with_resume(make_run, run_dir, dist, RESUME_AT)
    save_file(trainer.net.state_dict(), str(run_dir / f"rank{dist.rank}.safetensors"))


def _cooldown_worker(dist: DistContext, run_dir: Path) -> None:
    """One rank: a wall-clock budget whose last 90 % cools the lr down (each rank's own clock)."""
    trainer = make_run(run_dir, dist, max_steps=None, max_minutes=0.02, lr_cooldown=0.9)
    trainer.run()
    save_file(trainer.net.state_dict(), str(run_dir / f"rank{dist.rank}.safetensors"))


def test_a_wall_clock_cooldown_gives_every_rank_the_same_lr(tmp_path):
    run_workers(_cooldown_worker, WORLD, tmp_path, WORKER_TIMEOUT_S)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(WORLD)]
    for name, value in ranks[0].items():
        assert torch.equal(ranks[1][name], value), f"ranks disagree on {name}"
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lrs) >= 2 and lrs[-1] < lrs[0]  # the clock did cool the lr down


def test_two_gloo_processes_train_the_same_weights_as_one(tmp_path):
    run2 = tmp_path / "two"
    run_workers(_worker, WORLD, run2, WORKER_TIMEOUT_S)

    reference = make_run(tmp_path / "one", SINGLE)
    reference.run()
    expected = reference.net.state_dict()
    ranks = [load_file(str(run2 / f"rank{r}.safetensors")) for r in range(WORLD)]
    for name, value in expected.items():
        torch.testing.assert_close(ranks[0][name], value, atol=ATOL, rtol=0)
        assert torch.equal(ranks[1][name], ranks[0][name]), f"ranks disagree on {name}"
    assert any(  # the test means something only if training moved the weights
        not torch.allclose(v, make_run(tmp_path / "init", SINGLE).net.state_dict()[k])
        for k, v in expected.items()
    )

    # Rank 0 wrote single-process-format checkpoints, one log line per step, with the loss
    # averaged over ranks = the one-process loss of the whole batch.
    ckpt = ckpt_io.load(run2 / "checkpoints")
    single = ckpt_io.load(tmp_path / "one" / "checkpoints")
    assert ckpt.step == single.step == STEPS and ckpt.images_seen == single.images_seen
    for file in ("model.safetensors", "ema.safetensors", "optim.safetensors"):
        assert ckpt.tensors[file].keys() == single.tensors[file].keys()
    for name, value in ckpt.tensors["ema.safetensors"].items():
        torch.testing.assert_close(
            value, single.tensors["ema.safetensors"][name], atol=ATOL, rtol=0
        )
    assert "loss_generator.rank1" in ckpt.tensors["rng.safetensors"]
    assert not torch.equal(  # each rank draws its own noise
        ckpt.tensors["rng.safetensors"]["loss_generator"],
        ckpt.tensors["rng.safetensors"]["loss_generator.rank1"],
    )
    logs, ref_logs = (
        [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for run in (run2, tmp_path / "one")
    )
    assert [r["step"] for r in logs] == list(range(1, STEPS + 1))
    for got, want in zip(logs, ref_logs, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], abs=ATOL)


def test_batch_size_is_global_and_must_split_evenly():
    ctx = DistContext(rank=1, world_size=4, local_rank=1)
    assert ctx.local_batch(64, grad_accum=2) == 8
    assert SINGLE.local_batch(64, grad_accum=2) == 32
    with pytest.raises(ConfigError, match="divisible"):
        ctx.local_batch(12, grad_accum=2)


def test_context_validates_ranks_and_picks_a_backend():
    with pytest.raises(ConfigError, match="rank"):
        DistContext(rank=2, world_size=2)
    ctx = DistContext(rank=1, world_size=2, local_rank=1)
    assert not ctx.is_main and SINGLE.is_main
    assert ctx.on(torch.device("cpu")).backend is Backend.GLOO
    assert ctx.on(torch.device("cuda", 0)).backend is Backend.NCCL
    assert ctx.device(torch.device("cuda")) == torch.device("cuda", 1)
    assert ctx.noise_seed(7) != DistContext(0, 2).noise_seed(7)


def test_one_process_collectives_are_identities():
    value, cpu = torch.tensor(2.5), torch.device("cpu")
    assert SINGLE.mean(value) is value
    assert SINGLE.all_agree(False, cpu) is False and SINGLE.from_main(True, cpu) is True
    net = nn.Linear(2, 2)
    assert SINGLE.wrap(net) is net
    SINGLE.barrier()  # no process group needed


def test_resuming_with_another_number_of_processes_is_refused(tmp_path):
    trainer = make_run(tmp_path, SINGLE, max_steps=1)
    trainer.run()
    ckpt = ckpt_io.load(tmp_path / "checkpoints")
    ckpt.extra["world_size"] = 2
    with pytest.raises(CheckpointError, match="same number of processes"):
        make_run(tmp_path, SINGLE).restore(ckpt)
