"""Pretraining experiments: does a pretrained start help? Claims C4 (ViT → DiT, ``vit_init``) and
C12 (GPT-2 layout → AR pixel transformer, ``gpt2_init``).

No pretrained weights exist offline, so trigen pretrains them itself on one dataset
(Fashion-MNIST by default) and fine-tunes on another (MNIST). Each comparison trains two arms
per (data size, seed): ``scratch`` and ``init``, started and fed alike (:mod:`.finetune`). The
figure is a held-out number on fixed test images, lower is better, recorded at a few steps:

- C4: the diffusion loss (the family's training loss: v-prediction, min-SNR weighting) with
  fixed timesteps and noise;
- C12: the exact NLL of the 8-bit test images in bits/dim.

Per data size, :class:`PairedDifference` holds scratch − init per seed (> 0: the start helped).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch import nn

from trigen.batch import Batch
from trigen.build import DataSpec
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence
from trigen.claims.finetune import EVAL_IMAGES, build_arm, first, train
from trigen.claims.ledger import ClaimResult, Estimate, Series
from trigen.claims.rules import Decision
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset, load_dataset
from trigen.errors import ConfigError
from trigen.families.base import Family
from trigen.interop.common import LoadReport
from trigen.measure.stats import seeds_interval

PRETRAIN_SEED = 0  # one pretrained network per experiment, whatever the fine-tuning seeds
Log = Callable[[str], None]


class Arm(StrEnum):
    """How a fine-tuned network started."""

    SCRATCH = "scratch"  # the family's own initialisation
    INIT = "init"  # the same, then the pretrained tensors loaded over it


@dataclass(frozen=True)
class ArmRun:
    """One fine-tuning run: ``curve`` holds (step, held-out metric) from step 0 to the last.

    ``stream_digest``: SHA-256 of every batch (images and labels) and of the noise generator's
    final state; two runs with equal digests saw the same data and the same random draws.
    """

    size: int  # training images the run drew from (the first ``size`` of the target set)
    seed: int
    arm: Arm
    curve: tuple[tuple[int, float], ...]
    seconds: float  # wall time, held-out evaluations included
    stream_digest: str
    batch_size: int  # the experiment's, or ``size`` when that is smaller

    @property
    def final(self) -> float:
        """The held-out metric after the last step."""
        return self.curve[-1][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "seed": self.seed,
            "arm": self.arm.value,
            "curve": [list(point) for point in self.curve],
            "final": self.final,
            "seconds": self.seconds,
            "stream_digest": self.stream_digest,
            "batch_size": self.batch_size,
        }


@dataclass(frozen=True)
class PairedDifference:
    """scratch − init of the final held-out metric at one data size, one entry per seed."""

    size: int
    seeds: tuple[int, ...]
    differences: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.differences) / len(self.differences)

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        n = len(self.differences)
        if n < 2:
            return 0.0
        return math.sqrt(sum((d - self.mean) ** 2 for d in self.differences) / (n - 1))

    def estimate(self, name: str, unit: str = "") -> Estimate:
        """The mean with a t 95 % interval over seeds (no interval with one seed)."""
        return seeds_interval(name, self.differences, unit=unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "seeds": list(self.seeds),
            "differences": list(self.differences),
            "mean": self.mean,
            "std": self.std,
        }


@dataclass(frozen=True)
class Pretrained:
    """The pretrained network: what it trained on and how well it does its own task."""

    dataset: str
    steps: int
    batch_size: int
    metric: str  # "test accuracy" (ViT) or "test bits/dim" (AR)
    value: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class InitExperiment:
    """A scratch-vs-pretrained-start comparison: every run, and the paired differences by size."""

    claim: str
    model: str
    metric: str  # what ``ArmRun.curve`` holds; lower is better
    target_dataset: str
    resolution: int
    finetune_steps: int
    batch_size: int
    pretrained: Pretrained
    transfer: str  # the load report of the initialisation: what loaded, what was skipped
    runs: tuple[ArmRun, ...]
    pairs: tuple[PairedDifference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "model": self.model,
            "metric": self.metric,
            "target_dataset": self.target_dataset,
            "resolution": self.resolution,
            "finetune_steps": self.finetune_steps,
            "batch_size": self.batch_size,
            "pretrained": self.pretrained.to_dict(),
            "transfer": self.transfer,
            "runs": [run.to_dict() for run in self.runs],
            "pairs": [pair.to_dict() for pair in self.pairs],
        }


@dataclass(frozen=True)
class Finetuning:
    """The fine-tuning half of one experiment: ``steps`` steps at ``batch_size`` on the first n
    images of ``target`` for every n of ``subset_sizes`` (capped at its training set), once per
    seed and arm, scored by ``metric`` on held-out images (lower is better)."""

    claim: str
    model: str  # the fine-tuned preset
    metric: str
    target: str  # dataset name
    resolution: int
    subset_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    batch_size: int

    def __post_init__(self) -> None:
        if not self.subset_sizes or not self.seeds:
            raise ConfigError("give at least one subset size and one seed")
        if min(self.subset_sizes) < 1 or self.steps < 1 or self.batch_size < 1:
            raise ConfigError(
                f"subset sizes, finetune_steps and batch_size must be ≥ 1, got "
                f"{self.subset_sizes}, {self.steps}, {self.batch_size}"
            )

    def load(self) -> tuple[ImageDataset, Batch]:
        """The target's training set and its first EVAL_IMAGES test images."""
        train_set = load_dataset(self.target, "train", resolution=self.resolution)
        test = load_dataset(self.target, "test", resolution=self.resolution)[:EVAL_IMAGES]
        return train_set, test


def compare_arms(
    ft: Finetuning,
    cfg: TrainConfig,
    train_set: ImageDataset,
    evaluate: Callable[[Family], float],
    init: Callable[[nn.Module], LoadReport],
    pretrained: Pretrained,
    *,
    device: torch.device | str,
    log: Log,
) -> InitExperiment:
    """Both arms of ``cfg`` for every (size, seed), ``init`` loading the pretrained tensors into
    the ``init`` arm: every run, and the paired differences by size."""
    spec = DataSpec(train_set.shape, train_set.num_classes)
    runs, pairs, transfer = [], [], ""
    sizes = dict.fromkeys(min(n, len(train_set)) for n in ft.subset_sizes)
    for size in sizes:
        data, finals = first(train_set, size), {}
        batch = min(ft.batch_size, size)  # a subset smaller than a batch trains on all of it
        if batch < ft.batch_size:
            log(f"  n={size} is smaller than a batch of {ft.batch_size}: batches of {batch}")
        for seed in ft.seeds:
            for arm in Arm:
                start = time.perf_counter()
                family, report = build_arm(
                    cfg, spec, seed, device, init if arm is Arm.INIT else None
                )
                if report is not None:
                    transfer = transfer or report.summary()
                curve, digest = train(
                    family, data, steps=ft.steps, batch_size=batch, seed=seed, evaluate=evaluate
                )
                run = ArmRun(size, seed, arm, curve, time.perf_counter() - start, digest, batch)
                runs.append(run)
                finals[seed, arm] = run.final
                log(f"  n={size} seed {seed} {arm.value}: {run.final:.4f} ({run.seconds:.0f} s)")
        diffs = tuple(finals[s, Arm.SCRATCH] - finals[s, Arm.INIT] for s in ft.seeds)
        pairs.append(PairedDifference(size, ft.seeds, diffs))
        log(f"  n={size}: scratch − init {pairs[-1].mean:+.4f} ± {pairs[-1].std:.4f} (sd)")
    return InitExperiment(
        ft.claim, ft.model, ft.metric, ft.target, ft.resolution, ft.steps, ft.batch_size,
        pretrained, transfer, tuple(runs), tuple(pairs),
    )  # fmt: skip


def init_claim(
    entry: ClaimEntry,
    ctx: ClaimContext,
    experiment: Callable[..., InitExperiment],
    unit: str,
    **settings: Any,
) -> tuple[ClaimResult]:
    """C4 or C12: ``experiment`` run on the comparison's seeds, batch and device (``settings``:
    its own budget), decided on the paired scratch − init differences over seeds."""
    cs = ctx.claims
    exp = experiment(
        seeds=cs.seeds, batch_size=cs.pretraining_batch, device=ctx.device, log=ctx.log, **settings
    )
    pairs = sorted(exp.pairs, key=lambda p: p.size)
    series = []
    for arm in dict.fromkeys(r.arm for r in exp.runs):  # in run order: a set's is per process
        runs = [r for r in exp.runs if r.arm == arm and r.size == pairs[0].size]
        steps = [s for s, _ in runs[0].curve]
        mean = [sum(r.curve[i][1] for r in runs) / len(runs) for i in range(len(steps))]
        label = f"{arm.value} ({pairs[0].size} images, mean of {len(runs)} seeds)"
        ylabel = f"held-out {exp.metric}"
        series.append(
            Series(
                label, steps, mean, "fine-tuning steps", ylabel, logx=False, logy=False
            ).to_dict()
        )
    evidence = {"metric": exp.metric, "unit": unit, "pairs": [p.to_dict() for p in pairs]}
    result = entry.result(
        evidence,
        n_seeds=len(cs.seeds),
        n_samples=pairs[0].size,
        details={**exp.to_dict(), "series": series},
    )
    return (result,)


def decide_scratch_minus_init(ev: Evidence, rule: Callable[[Estimate], Decision]) -> Decided:
    """scratch − init of the held-out metric per data size, t over seeds (smallest first);
    ``rule`` (C4's or C12's) decides on the smallest size."""
    pairs = sorted(ev["pairs"], key=lambda p: p["size"])
    estimates = tuple(
        seeds_interval(
            f"scratch − init {ev['metric']}, {p['size']} images", p["differences"], unit=ev["unit"]
        )
        for p in pairs
    )
    return estimates, rule(estimates[0])
