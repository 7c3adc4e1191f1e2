"""Claim C12: the AR model can start from GPT-style language-model weights.

The pixel transformer pretrained by trigen on one dataset's pixels, exported and reloaded in
GPT-2 layout, fine-tunes on another; the scratch and GPT-2-initialised arms are compared on
held-out bits/dim (:mod:`.pretraining`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

import torch
from torch import nn

from trigen.build import DataSpec
from trigen.claims import rules
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.finetune import EVAL_IMAGES, build_arm, held_out_bits_per_dim, train
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
from trigen.interop.gpt2 import export_gpt2, init_ar_from_gpt2

AR_PRESET = "ar-tiny"


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
    ft = Finetuning(
        "C12", AR_PRESET, "held-out bits/dim", target_dataset, resolution,
        tuple(subset_sizes), tuple(seeds), finetune_steps, batch_size,
    )  # fmt: skip
    pre_train = load_dataset(pretrain_dataset, "train", resolution=resolution)
    pre_test = load_dataset(pretrain_dataset, "test", resolution=resolution)[:EVAL_IMAGES]
    train_set, test = ft.load()
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

    def evaluate(family: Family) -> float:
        return held_out_bits_per_dim(family, test)

    with tempfile.TemporaryDirectory(prefix="trigen-gpt2-") as directory:
        export_gpt2(source.net, directory)

        def init(net: nn.Module) -> LoadReport:
            report = init_ar_from_gpt2(net, directory)
            report.source = f"GPT-2 export of {AR_PRESET} pretrained on {pretrain_dataset}"
            return report  # the temporary directory's name would mean nothing later

        return compare_arms(ft, cfg, train_set, evaluate, init, pretrained, device=device, log=log)


def gpt2_init_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C12 on the comparison's seeds and the ``gpt2_*`` budget of its claims settings."""
    cs = ctx.claims
    budget = {"pretrain_steps": cs.gpt2_pretrain_steps, "finetune_steps": cs.gpt2_finetune_steps}
    return init_claim(C12, ctx, gpt2_init_experiment, "bits/dim", **budget)


def decide_c12(ev: Evidence) -> Decided:
    """GPT-2-layout-initialised AR: scratch − init held-out bits/dim at its data size."""
    return decide_scratch_minus_init(ev, rules.c12_gpt2_init)


EXPERIMENT = Experiment(
    "pretrained initialisation",
    gpt2_init_claim,
    ("seeds", "pretraining_batch", "gpt2_pretrain_steps", "gpt2_finetune_steps"),
)
C12 = ClaimEntry("C12", EXPERIMENT, rules.c12_gpt2_init, decide_c12)
ENTRIES = (C12,)
