"""FSDP2: two gloo processes with sharded weights train what one process trains (up to rounding).

Like the DDP test, the equivalence run calls :func:`_worker` in two worker processes
(``run_workers``). The sharded run also recomputes every block
(gradient checkpointing), resumes halfway from its own checkpoint, and starts rank 1 from other
weights than rank 0 (FSDP must adopt rank 0's, as DDP does). Its checkpoints must be ordinary
full state dicts: api.load reads them in one process.
"""

from __future__ import annotations

import json
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
from trigen.train.distributed import SINGLE, DistContext
from trigen.train.loop import Trainer
from trigen.train.sharded_state import full_state_dict, is_sharded

from ..distributed_helpers import run_workers
from .helpers import LossOnly, rank_loader, train_with_resume

WORLD = 2
STEPS = 4
RESUME_AT = 2
WORKER_TIMEOUT_S = 180
LR = 1e-2
# Two ranks sum their halves of the batch in another order than one process does, so gradients
# agree only to float rounding (~1e-7 of their size). Loss and gradient norm of every step
# (metrics.jsonl) must agree that closely: a gradient not averaged over ranks, a parameter
# left unsynced or noise differing per rank would move them by far more.
LOG_RTOL = 1e-5
# Weights go through Adam, whose step lr·g/(|g| + eps) has slope lr/eps = 1e6 for an entry
# whose gradient happens to be of the size of eps (1e-8): rounding noise of ~1e-11 in such a
# gradient moves the weight by ~1e-5 (measured: 1.1e-5 on t_embedder.mlp.0.weight, gradient
# 4.8e-10 vs 4.9e-10 in the first step). Whether some entry lands there depends on the seed
# and on the CPU's summation kernels. A wrong update differs by a whole Adam step (up to lr per
# entry), so weights are held to 1 % of that.
WEIGHT_ATOL = LR / 100
# Adam's moments follow the gradients (~1e-7 relative, ~1e-5 after the weights above drift),
# at scales from 1e-10 to 1e-3: each is compared relative to its tensor's largest entry.
MOMENT_RTOL = 1e-4
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
        lr=LR,
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


def assert_states_close(
    got: dict[str, Tensor], want: dict[str, Tensor], what: str, rel_to_max: float | None = None
) -> None:
    """Every tensor of ``got`` is within WEIGHT_ATOL of ``want``'s, or with ``rel_to_max``
    within that fraction of the largest entry of ``want``'s."""
    assert got.keys() == want.keys(), what
    for name, value in want.items():
        a, b = comparable(name, got[name]), comparable(name, value)
        atol = WEIGHT_ATOL if rel_to_max is None else rel_to_max * float(b.abs().max())
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=f"{what}: {name}")


def logged(run_dir: Path) -> Tensor:
    """(steps, 2): loss and gradient norm of every step in ``run_dir``'s metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return torch.tensor([[r["loss"], r["grad_norm"]] for r in map(json.loads, lines)])


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
    two, one = logged(run2), logged(tmp_path / "one")
    assert two.shape == one.shape == (STEPS, 2)
    torch.testing.assert_close(two, one, rtol=LOG_RTOL, atol=0, msg="loss and gradient norm")
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
        sharded.tensors["optim.safetensors"],
        single.tensors["optim.safetensors"],
        "optimizer",
        rel_to_max=MOMENT_RTOL,
    )
    assert sharded.extra["param_groups"] == single.extra["param_groups"]

    # ... that api.load rebuilds in one process, weights included.
    loaded = api.load(run2, ema=True)
    assert_states_close(loaded.family.net.state_dict(), single.tensors["ema.safetensors"], "load")
