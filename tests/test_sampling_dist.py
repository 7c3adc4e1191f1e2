"""Sharded sampling: the images depend on (seed, batch_size, position), never on the rank count.

The two-process run calls :func:`_worker` in two worker processes (``run_workers``); the CLI
test launches ``torchrun -m trigen sample``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trigen import api
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig
from trigen.families.base import SampleSpec
from trigen.sampling import chunk_seed, sample_chunks, sample_sharded, to_uint8
from trigen.train.distributed import DistContext
from trigen.train.loop import Trainer

from .distributed_helpers import free_port, run_workers

SPEC = DataSpec((1, 8, 8), 3, ("a", "b", "c"))
LABELS = torch.tensor([0, 1, 2, 3, 0])  # 3 chunks of 2 (the last one short); 3 is the null class
BATCH = 2
SEED = 11
SAMPLE = SampleSpec(sampler="ddim", steps=2, cfg=1.5)
WORKER_TIMEOUT_S = 120


def make_config() -> TrainConfig:
    return TrainConfig(
        family="dit",
        model="DiT-T/4",
        model_overrides={"depth": 1, "hidden": 32, "heads": 2},
        batch_size=2,
        max_steps=1,
    )


def tiny_family():
    """A tiny DiT family whose output depends on its input (the zero init perturbed)."""
    torch.manual_seed(0)
    family = build_family(make_config(), SPEC)
    with torch.no_grad():
        for p in family.net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    family.net.eval()
    return family


def test_any_number_of_ranks_draws_the_images_of_one():
    family = tiny_family()
    one = sample_chunks(family, LABELS, SAMPLE, seed=SEED, batch_size=BATCH)
    assert sorted(one) == [0, 1, 2] and one[2].shape == (1, 8, 8, 1)
    for world in (2, 3, 4):
        union = {}
        for rank in range(world):
            part = sample_chunks(
                family, LABELS, SAMPLE, seed=SEED, batch_size=BATCH, rank=rank, world_size=world
            )
            assert union.keys().isdisjoint(part)
            union.update(part)
        assert union.keys() == one.keys()
        for k in one:
            assert torch.equal(union[k], one[k])
    # one process is api.sample; its first chunk is drawn with ``seed`` itself
    stacked = api.sample(family, LABELS, SAMPLE, seed=SEED, batch_size=BATCH)
    assert np.array_equal(stacked, torch.cat([one[k] for k in range(3)]).numpy())
    first = family.sample(LABELS[:BATCH], SAMPLE, torch.Generator().manual_seed(SEED))
    assert torch.equal(to_uint8(first), one[0])
    assert not torch.equal(one[0][:1], one[2])  # chunks draw different noise


def test_chunk_seeds_are_distinct_valid_torch_seeds():
    seeds = {chunk_seed(2**63 - 2, k) for k in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert chunk_seed(SEED, 0) == SEED


def _worker(dist: DistContext, out: Path) -> None:
    images = sample_sharded(tiny_family(), LABELS, SAMPLE, seed=SEED, batch_size=BATCH, dist=dist)
    assert (images is None) == (not dist.is_main)
    if images is not None:
        np.save(out / "images.npy", images)


def test_two_gloo_processes_sample_what_one_process_samples(tmp_path):
    run_workers(_worker, 2, tmp_path, WORKER_TIMEOUT_S)
    expected = api.sample(tiny_family(), LABELS, SAMPLE, seed=SEED, batch_size=BATCH)
    assert np.array_equal(np.load(tmp_path / "images.npy"), expected)


@pytest.mark.slow
def test_torchrun_trigen_sample_writes_the_one_process_grid(tmp_path):
    from trigen.data.datasets import ImageDataset
    from trigen.data.loader import BatchLoader

    cfg = make_config()
    family = tiny_family()
    images = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    data = ImageDataset(images, torch.randint(0, 3, (8,)), 3, ["a", "b", "c"], "toy")
    loader = BatchLoader(data, cfg.batch_size, seed=0)
    Trainer(family, loader, cfg, tmp_path / "run", meta={"data": SPEC.to_dict()}).run()
    common = ["sample", "--checkpoint", str(tmp_path / "run"), "--n", "5", "--steps", "2"]
    common += ["--batch-size", "2", "--device", "cpu", "--labels", "0,1,2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    runs = {
        "one": [sys.executable, "-m", "trigen"],
        # "--": torchrun's parser would take trigen's --n for an abbreviation of its own options
        "two": [*torchrun, "--master_port", str(free_port()), "-m", "trigen", "--"],
    }
    for name, launcher in runs.items():
        done = subprocess.run(
            [*launcher, *common, "--out", str(tmp_path / f"{name}.png")],
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_S,
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    one, two = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("one", "two"))
    assert np.array_equal(one, two)
