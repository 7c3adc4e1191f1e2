"""Claim C4: DiT can start from pretrained ViT weights and then converges faster, with less data.

A ViT classifier pretrained by trigen on one dataset initialises DiT-T/4 for another; the
scratch and ViT-initialised arms are compared on held-out diffusion loss (:mod:`.pretraining`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn

from trigen.build import DataSpec, build_family
from trigen.claims import rules
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.finetune import held_out_diffusion_loss
from trigen.claims.ledger import ClaimResult
from trigen.claims.pretraining import (
    PRETRAIN_SEED,
    Finetuning,
    InitExperiment,
    Log,
    Pretrained,
    compare_arms,
    decide_scratch_minus_init,
    init_claim,
)
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import load_dataset
from trigen.families.base import Family
from trigen.interop.common import LoadReport
from trigen.interop.vit import init_dit_from_vit
from trigen.interop.vit_pretrain import ViTClassifier, classification_accuracy, pretrain_vit

DIT_PRESET = "DiT-T/4"  # 28×28 → 7×7 tokens of width 128, 6 blocks: CPU-sized
PRETRAIN_EVAL_IMAGES = 2_000  # test images of the pretrained network's own score


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
    ft = Finetuning(
        "C4", DIT_PRESET, "held-out diffusion loss", target_dataset, resolution,
        tuple(subset_sizes), tuple(seeds), finetune_steps, batch_size,
    )  # fmt: skip
    pre_train = load_dataset(pretrain_dataset, "train", resolution=resolution)
    pre_test = load_dataset(pretrain_dataset, "test", resolution=resolution)
    train_set, test = ft.load()
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

    def evaluate(family: Family) -> float:
        return held_out_diffusion_loss(family, test)

    return compare_arms(ft, cfg, train_set, evaluate, init, pretrained, device=device, log=log)


def vit_init_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C4 on the comparison's seeds and the ``vit_*`` budget of its claims settings."""
    cs = ctx.claims
    budget = {
        "subset_sizes": cs.vit_subsets,
        "pretrain_steps": cs.vit_pretrain_steps,
        "finetune_steps": cs.vit_finetune_steps,
    }
    return init_claim(C4, ctx, vit_init_experiment, "held-out loss", **budget)


def decide_c4(ev: Evidence) -> Decided:
    """ViT-initialised DiT: scratch − init held-out loss at the smallest data size."""
    return decide_scratch_minus_init(ev, rules.c4_vit_init)


EXPERIMENT = Experiment(
    "pretrained initialisation",
    vit_init_claim,
    ("seeds", "pretraining_batch", "vit_subsets", "vit_pretrain_steps", "vit_finetune_steps"),
)
C4 = ClaimEntry("C4", EXPERIMENT, rules.c4_vit_init, decide_c4)
ENTRIES = (C4,)
