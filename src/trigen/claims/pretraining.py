"""Pretraining experiments: does a pretrained start help? Claims C4 (ViT → DiT) and C12 (GPT-2
layout → AR pixel transformer).

No pretrained weights exist offline, so trigen pretrains them itself on one dataset
(Fashion-MNIST by default) and fine-tunes on another (MNIST). Each comparison trains two arms
per (data size, seed): ``scratch`` and ``init``. Both arms are built under the same
``torch.manual_seed(seed)``, so every tensor the transfer does not replace starts equal; they then
see the same batches (a :class:`BatchLoader` seeded with ``seed``), the same label drops,
timesteps and noise (a generator seeded with ``seed``), the same optimizer and learning rate.
The figure is a held-out number on fixed test images, lower is better, recorded at a few steps:

- C4: the diffusion loss (the family's training loss: v-prediction, min-SNR weighting) with
  fixed timesteps and noise;
- C12: the exact NLL of the 8-bit test images in bits/dim.

Per data size, :class:`PairedDifference` holds scratch − init per seed (> 0: the start helped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch import nn

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.claims.ledger import Estimate
from trigen.claims.stats import seeds_interval
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset, load_dataset
from trigen.data.loader import BatchLoader
from trigen.errors import ConfigError
from trigen.families.base import Family
from trigen.interop.common import LoadReport
from trigen.interop.gpt2 import export_gpt2, init_ar_from_gpt2
from trigen.interop.vit import init_dit_from_vit
from trigen.interop.vit_pretrain import ViTClassifier, classification_accuracy, pretrain_vit
from trigen.train.optim import build_optimizer, learning_rate

DIT_PRESET = "DiT-T/4"  # 28×28 → 7×7 tokens of width 128, 6 blocks: CPU-sized
AR_PRESET = "ar-tiny"
PRETRAIN_SEED = 0  # one pretrained network per experiment, whatever the fine-tuning seeds
EVAL_IMAGES = 256  # first test images of the held-out metric
PRETRAIN_EVAL_IMAGES = 2_000  # test images of the pretrained network's own score
EVAL_CHUNK = 64  # test images per forward of the held-out NLL (bounds attention memory)
EVAL_SEED = 123  # label drops, timesteps and noise of the held-out diffusion loss
CHECKPOINTS = 4  # held-out evaluations during fine-tuning (plus one before the first step)
LR = 1e-3
WARMUP_IMAGES = 1_000
GRAD_CLIP = 1.0
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


def first(data: ImageDataset, n: int) -> ImageDataset:
    """The first ``n`` examples of ``data`` (all of them when ``n`` ≥ its length)."""
    n = min(n, len(data))
    return ImageDataset(
        data.images[:n], data.labels[:n], data.num_classes, data.class_names, data.name
    )


def build_arm(
    cfg: TrainConfig,
    spec: DataSpec,
    seed: int,
    device: torch.device | str,
    init: Callable[[nn.Module], LoadReport] | None = None,
) -> tuple[Family, LoadReport | None]:
    """The family of ``cfg`` built under ``torch.manual_seed(seed)``; ``init`` then loads into it.

    Two arms with the same seed start equal wherever ``init`` leaves the network alone.
    """
    torch.manual_seed(seed)
    family = build_family(cfg, spec, device)
    report = init(family.net) if init is not None else None
    return family, report


def train(
    family: Family,
    data: ImageDataset,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    evaluate: Callable[[Family], float] | None = None,
) -> tuple[tuple[tuple[int, float], ...], str]:
    """``steps`` AdamW steps of ``family.loss`` on ``data``: the held-out curve and stream digest.

    Batches come from a :class:`BatchLoader` seeded with ``seed``, label drops, timesteps and
    noise from a generator seeded with ``seed``. ``evaluate`` (if given) runs before the first
    step, every ``steps / CHECKPOINTS`` steps and after the last.
    """
    net = family.net
    device = next(net.parameters()).device
    opt = build_optimizer(net, LR, 0.0)
    loader = BatchLoader(data, batch_size, seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    every = max(1, steps // CHECKPOINTS)
    digest = hashlib.sha256()
    curve = [(0, evaluate(family))] if evaluate is not None else []
    net.train()
    for step in range(1, steps + 1):
        batch = next(loader)
        digest.update(batch.images.numpy().tobytes() + batch.labels.numpy().tobytes())
        for group in opt.param_groups:
            group["lr"] = learning_rate(LR, (step - 1) * batch_size, WARMUP_IMAGES)
        batch = Batch(batch.images.to(device), batch.labels.to(device))
        loss = family.loss(batch, generator=generator).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
        opt.step()
        if evaluate is not None and (step % every == 0 or step == steps):
            curve.append((step, evaluate(family)))
    digest.update(generator.get_state().cpu().numpy().tobytes())
    return tuple(curve), digest.hexdigest()


def held_out_diffusion_loss(family: Family, test: Batch) -> float:
    """Mean diffusion loss on ``test`` with label drops, timesteps and noise fixed by EVAL_SEED."""
    device = next(family.net.parameters()).device
    generator = torch.Generator(device=device).manual_seed(EVAL_SEED)
    family.net.eval()
    with torch.no_grad():
        batch = Batch(test.images.to(device), test.labels.to(device))
        loss = family.loss(batch, generator=generator).mean().item()
    family.net.train()
    return loss


def held_out_bits_per_dim(family: Family, test: Batch) -> float:
    """Exact NLL of the 8-bit ``test`` images in bits/dim: nats / (C·H·W·ln 2)."""
    device = next(family.net.parameters()).device
    family.net.eval()
    nats = 0.0
    for start in range(0, len(test.labels), EVAL_CHUNK):
        images = test.images[start : start + EVAL_CHUNK].to(device)
        labels = test.labels[start : start + EVAL_CHUNK].to(device)
        nats += family.nll(Batch(images, labels)).sum().item()
    family.net.train()
    return nats / len(test.labels) / (test.images[0].numel() * math.log(2))


def _check(subset_sizes: Sequence[int], seeds: Sequence[int], steps: int, batch: int) -> None:
    if not subset_sizes or not seeds:
        raise ConfigError("give at least one subset size and one seed")
    if min(subset_sizes) < 1 or steps < 1 or batch < 1:
        raise ConfigError(
            f"subset sizes, finetune_steps and batch_size must be ≥ 1, got "
            f"{tuple(subset_sizes)}, {steps}, {batch}"
        )


def _compare(
    cfg: TrainConfig,
    spec: DataSpec,
    train_set: ImageDataset,
    evaluate: Callable[[Family], float],
    init: Callable[[nn.Module], LoadReport],
    *,
    subset_sizes: Sequence[int],
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    device: torch.device | str,
    log: Log,
) -> tuple[tuple[ArmRun, ...], tuple[PairedDifference, ...], str]:
    """Both arms for every (size, seed): the runs, the paired differences, the load summary."""
    runs, pairs, transfer = [], [], ""
    sizes = dict.fromkeys(min(n, len(train_set)) for n in subset_sizes)
    for size in sizes:
        data, finals = first(train_set, size), {}
        batch = min(batch_size, size)  # a subset smaller than a batch trains on all of it
        if batch < batch_size:
            log(f"  n={size} is smaller than a batch of {batch_size}: batches of {batch}")
        for seed in seeds:
            for arm in Arm:
                start = time.perf_counter()
                family, report = build_arm(
                    cfg, spec, seed, device, init if arm is Arm.INIT else None
                )
                if report is not None:
                    transfer = transfer or report.summary()
                curve, digest = train(
                    family, data, steps=steps, batch_size=batch, seed=seed, evaluate=evaluate
                )
                run = ArmRun(size, seed, arm, curve, time.perf_counter() - start, digest, batch)
                runs.append(run)
                finals[seed, arm] = run.final
                log(f"  n={size} seed {seed} {arm.value}: {run.final:.4f} ({run.seconds:.0f} s)")
        diffs = tuple(finals[s, Arm.SCRATCH] - finals[s, Arm.INIT] for s in seeds)
        pairs.append(PairedDifference(size, tuple(seeds), diffs))
        log(f"  n={size}: scratch − init {pairs[-1].mean:+.4f} ± {pairs[-1].std:.4f} (sd)")
    return tuple(runs), tuple(pairs), transfer


def vit_init_experiment(
    *,
    pretrain_dataset: str = "fashion_mnist",
    target_dataset: str = "mnist",
    resolution: int = 28,
    subset_sizes: Sequence[int] = (1000, 10000, 60000),
    seeds: Sequence[int] = (0, 1, 2),
    pretrain_steps: int = 300,
    finetune_steps: int = 100,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    log: Log = print,
) -> InitExperiment:
    """Claim C4: DiT-T/4 from scratch vs from a ViT classifier pretrained by trigen.

    One ViT (:class:`ViTClassifier`, the DiT's shapes, timm names) trains to classify
    ``pretrain_dataset``; :func:`init_dit_from_vit` then loads its blocks and patch embedding
    into the ``init`` arm. Each arm trains ``finetune_steps`` steps on the first n target
    images for every n in ``subset_sizes`` (capped at the training set) and every seed.

    Cost measured as CPU seconds of one thread (AMD EPYC with AVX-512, fp32, 28 px; the machine
    was shared, so wall times were not clean): 0.27 s per DiT-T/4 step at batch 32, 0.24 s per
    ViT step, 0.7 s per held-out evaluation (256 images, 5 per run). The defaults cost
    300·0.24 + 18·(100·0.27 + 5·0.7) ≈ 620 CPU-s: ≈ 10 min on one core, less on two.
    """
    _check(subset_sizes, seeds, finetune_steps, batch_size)
    pre_train = load_dataset(pretrain_dataset, "train", resolution=resolution)
    pre_test = load_dataset(pretrain_dataset, "test", resolution=resolution)
    train_set = load_dataset(target_dataset, "train", resolution=resolution)
    test = load_dataset(target_dataset, "test", resolution=resolution)[:EVAL_IMAGES]
    spec = DataSpec(train_set.shape, train_set.num_classes)
    cfg = TrainConfig(family=FamilyName.DIT, model=DIT_PRESET, batch_size=batch_size)
    dit_cfg = build_family(cfg, spec).net.cfg

    log(f"pretraining a ViT classifier on {pretrain_dataset} ({pretrain_steps} steps)")
    start = time.perf_counter()
    torch.manual_seed(PRETRAIN_SEED)
    vit = ViTClassifier(dit_cfg, pre_train.num_classes).to(device)
    pretrain_vit(vit, pre_train, steps=pretrain_steps, batch_size=batch_size, seed=PRETRAIN_SEED)
    accuracy = classification_accuracy(vit, pre_test[:PRETRAIN_EVAL_IMAGES])
    pretrained = Pretrained(
        pretrain_dataset, pretrain_steps, batch_size, "test accuracy", accuracy,
        time.perf_counter() - start,
    )  # fmt: skip
    log(f"  test accuracy {accuracy:.3f} ({pretrained.seconds:.0f} s)")
    state = {k: v.detach().clone() for k, v in vit.state_dict().items()}

    def init(net: nn.Module) -> LoadReport:
        return init_dit_from_vit(net, state, source_heads=dit_cfg.heads)

    runs, pairs, transfer = _compare(
        cfg, spec, train_set, lambda family: held_out_diffusion_loss(family, test), init,
        subset_sizes=subset_sizes, seeds=seeds, steps=finetune_steps, batch_size=batch_size,
        device=device, log=log,
    )  # fmt: skip
    return InitExperiment(
        "C4", DIT_PRESET, "held-out diffusion loss", target_dataset, resolution, finetune_steps,
        batch_size, pretrained, transfer, runs, pairs,
    )  # fmt: skip


def gpt2_init_experiment(
    *,
    pretrain_dataset: str = "fashion_mnist",
    target_dataset: str = "mnist",
    resolution: int = 16,
    subset_sizes: Sequence[int] = (60000,),
    seeds: Sequence[int] = (0, 1, 2),
    pretrain_steps: int = 150,
    finetune_steps: int = 40,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    log: Log = print,
) -> InitExperiment:
    """Claim C12: the AR pixel transformer from scratch vs from GPT-2-layout weights.

    trigen pretrains ``ar-tiny`` on ``pretrain_dataset``'s pixels with its output bias frozen
    at zero (GPT-2's head has none), exports it with :func:`export_gpt2` to a temporary
    ``save_pretrained`` directory and loads that directory with :func:`init_ar_from_gpt2`,
    the path of ``trigen train --init-gpt2``. Everything but the class embeddings transfers.

    Cost measured as CPU seconds of one thread (AMD EPYC with AVX-512, fp32, 16 px = 256 tokens;
    the machine was shared): 0.9 s per ar-tiny step at batch 32, 2.3 s per held-out NLL of 256
    images (5 per run). The defaults cost 150·0.9 + 6·(40·0.9 + 5·2.3) ≈ 420 CPU-s: ≈ 7 min on
    one core, ≈ 4–5 min on two.
    """
    _check(subset_sizes, seeds, finetune_steps, batch_size)
    pre_train = load_dataset(pretrain_dataset, "train", resolution=resolution)
    pre_test = load_dataset(pretrain_dataset, "test", resolution=resolution)[:EVAL_IMAGES]
    train_set = load_dataset(target_dataset, "train", resolution=resolution)
    test = load_dataset(target_dataset, "test", resolution=resolution)[:EVAL_IMAGES]
    spec = DataSpec(train_set.shape, train_set.num_classes)
    cfg = TrainConfig(family=FamilyName.AR, model=AR_PRESET, batch_size=batch_size)

    log(f"pretraining {AR_PRESET} on {pretrain_dataset} pixels ({pretrain_steps} steps)")
    start = time.perf_counter()
    pre_spec = DataSpec(pre_train.shape, pre_train.num_classes)
    source, _ = build_arm(cfg, pre_spec, PRETRAIN_SEED, device)
    source.net.head.bias.requires_grad_(False)  # zero from init: GPT-2's head has no bias
    train(source, pre_train, steps=pretrain_steps, batch_size=batch_size, seed=PRETRAIN_SEED)
    bits = held_out_bits_per_dim(source, pre_test)
    pretrained = Pretrained(
        pretrain_dataset, pretrain_steps, batch_size, "test bits/dim", bits,
        time.perf_counter() - start,
    )  # fmt: skip
    log(f"  test bits/dim {bits:.3f} ({pretrained.seconds:.0f} s)")

    with tempfile.TemporaryDirectory(prefix="trigen-gpt2-") as directory:
        export_gpt2(source.net, directory)

        def init(net: nn.Module) -> LoadReport:
            report = init_ar_from_gpt2(net, directory)
            report.source = f"GPT-2 export of {AR_PRESET} pretrained on {pretrain_dataset}"
            return report  # the temporary directory's name would mean nothing later

        runs, pairs, transfer = _compare(
            cfg, spec, train_set, lambda family: held_out_bits_per_dim(family, test), init,
            subset_sizes=subset_sizes, seeds=seeds, steps=finetune_steps, batch_size=batch_size,
            device=device, log=log,
        )  # fmt: skip
    return InitExperiment(
        "C12", AR_PRESET, "held-out bits/dim", target_dataset, resolution, finetune_steps,
        batch_size, pretrained, transfer, runs, pairs,
    )  # fmt: skip
