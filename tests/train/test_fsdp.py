"""FSDP2: two gloo processes with sharded weights train exactly what one process trains.

Like the DDP test, the equivalence run calls :func:`_worker` in two worker processes
(``run_workers``). The sharded run also recomputes every block
(gradient checkpointing), resumes halfway from its own checkpoint, and starts rank 1 from other
weights than rank 0 (FSDP must adopt rank 0's, as DDP does). Its checkpoints must be ordinary
full state dicts: api.load reads them in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen import api
from trigen.batch import Batch
from trigen.build import DataSpec, build_network
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.train import checkpoint as ckpt_io
from trigen.train.distributed import SINGLE, DistContext, full_state_dict, is_sharded
from trigen.train.loop import Trainer

from ..distributed_helpers import run_workers
from .helpers import LossOnly, rank_loader, train_with_resume

WORLD = 2
STEPS = 4
RESUME_AT = 2
WORKER_TIMEOUT_S = 180
ATOL = 1e-5
SPEC = DataSpec((1, 8, 8), 2, ("a", "b"))


@dataclass
class FixedTimeFamily(LossOnly):
    """A DiT loss without randomness (t is a function of the image), so splitting the batch over
    ranks must not change the update."""

    net: nn.Module
    num_classes: int = 2
    image_shape: tuple[int, int, int] = (1, 8, 8)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        t = (batch.images.flatten(1).sum(1).abs() * 37.0) % 999.0  # (B,)
        pred = self.net(batch.images, t, batch.labels)
        return (pred + batch.images.flip(-1)).pow(2).flatten(1).mean(1)  # (B,)


def make_config(max_steps: int, sharded: bool) -> TrainConfig:
    return TrainConfig(
        family="dit",
        model="DiT-T/4",
        model_overrides={"depth": 2, "hidden": 32, "heads": 2},
        batch_size=8,
        grad_accum=2,  # exercises FSDP's deferred gradient sync on the first micro-batch
        lr=1e-2,
        warmup_images=0,
        max_steps=max_steps,
        log_every=1,
        checkpoint_every=100,
        ema_halflife_images=32,
        fsdp=sharded,
        grad_checkpointing=sharded,
    )


def make_run(run_dir: Path, dist: DistContext, max_steps: int = STEPS) -> Trainer:
    cfg = make_config(max_steps, sharded=dist.distributed)
    torch.manual_seed(dist.rank)  # rank 1 starts elsewhere: the trainer must adopt rank 0's
    net = build_network(cfg, SPEC)
    with torch.no_grad():  # leave the zero init, so every weight moves from the first step
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (32, 1, 8, 8), generator=g).to(torch.uint8)
    data = ImageDataset(images, torch.randint(0, 2, (32,), generator=g), 2, ["a", "b"], "toy")
    meta = {"data": SPEC.to_dict()}
    return Trainer(
        FixedTimeFamily(net), rank_loader(data, cfg, dist), cfg, run_dir, meta, dist=dist
    )


def comparable(name: str, value: Tensor) -> Tensor:
    """``value`` without the attention's key biases (the middle third of ``qkv.bias``).

    Softmax is invariant to a key bias, so its gradient is pure float noise (~1e-9) that Adam
    divides by its own magnitude into a full-size step: the ranks' and the single process's
    noise differ, and so do these entries. Everything else must agree.
    """
    if name.endswith("attn.qkv.bias"):
        q, _, v = value.chunk(3)
        return torch.cat([q, v])
    return value


def assert_states_close(got: dict[str, Tensor], want: dict[str, Tensor], what: str) -> None:
    assert got.keys() == want.keys(), what
    for name, value in want.items():
        torch.testing.assert_close(
            comparable(name, got[name]), comparable(name, value), atol=ATOL, rtol=0,
            msg=f"{what}: {name}",
        )  # fmt: skip


def _worker(dist: DistContext, run_dir: Path) -> None:
    trainer = train_with_resume(make_run, run_dir, dist, RESUME_AT)
    assert is_sharded(trainer.net)
    # really sharded: each rank holds only part of the larger parameters
    assert any(p.to_local().numel() < p.numel() for p in trainer.net.parameters())
    state = full_state_dict(trainer.net)  # a collective; whole on rank 0 only
    if dist.is_main:
        save_file(state, str(run_dir / "gathered.safetensors"))


def test_two_sharded_gloo_processes_train_the_same_weights_as_one(tmp_path):
    run2 = tmp_path / "two"
    run_workers(_worker, WORLD, run2, WORKER_TIMEOUT_S)

    reference = make_run(tmp_path / "one", SINGLE)
    reference.run()
    gathered = load_file(str(run2 / "gathered.safetensors"))
    assert_states_close(gathered, reference.net.state_dict(), "weights")

    # The checkpoint is a one-process checkpoint: same files, names, layout and values.
    sharded = ckpt_io.load(run2 / "checkpoints")
    single = ckpt_io.load(tmp_path / "one" / "checkpoints")
    assert sharded.step == single.step == STEPS
    for file in ("model.safetensors", "ema.safetensors"):
        assert_states_close(sharded.tensors[file], single.tensors[file], file)
    # optimizer moments: keys "state.<index>.<moment>", the index is the one-process one
    # (a key bias's moments are noise too, but noise of size ~1e-9: they compare as they are)
    assert_states_close(
        sharded.tensors["optim.safetensors"], single.tensors["optim.safetensors"], "optimizer"
    )
    assert sharded.extra["param_groups"] == single.extra["param_groups"]

    # ... that api.load rebuilds in one process, weights included.
    loaded = api.load(run2, ema=True)
    assert_states_close(loaded.family.net.state_dict(), single.tensors["ema.safetensors"], "load")
