"""Claim C3: DiT's condition injections (adaLN-Zero, adaLN, in-context tokens, cross-attention)
and the U-Net's AdaGN at equal budget (training FLOPs, or wall-clock minutes where the settings
give none), each trained once per seed, judged by the class accuracy of their samples."""

from __future__ import annotations

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, sample_images, trained_record
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult
from trigen.claims.seeded import SEEDS, PerSeed, run_difference, split_at
from trigen.claims.settings import budget_text, claim_budget
from trigen.config import FamilyName
from trigen.measure import stats
from trigen.measure.variants import conditioning_configs

ADALN_ZERO = "adaln_zero"  # the variant the claim is about; the others are measured against it


def conditioning_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C3: class accuracy of each DiT conditioning variant and the U-Net's AdaGN at equal budget,
    each trained once per seed; samples of one seed share labels and noise across variants."""
    ev, cs = ctx.evaluators, ctx.claims
    if ev.domain is None:
        return (C3.not_run("needs a dataset with classes"),)
    correct: dict[str, list] = {}
    trained: dict[str, list] = {}  # variant → per seed: what its run got
    budget = claim_budget(cs.variant_flops, cs.variant_minutes)
    for seed in cs.seeds:
        base = ctx.config_for(FamilyName.DIT, seed=seed, **budget)
        runs = conditioning_configs(base)
        runs.append(("U-Net AdaGN", ctx.config_for(FamilyName.UNET, seed=seed, **budget)))
        for variant, cfg in runs:
            ctx.log(f"  conditioning: {variant}, seed {seed} ({budget_text(budget)})")
            loaded, summary = ctx.train(cfg, ctx.run_dir("conditioning", variant, seed))
            trained.setdefault(variant, []).append(trained_record(summary))
            images, labels = sample_images(ctx, loaded, cs.variant_samples, seed)
            hits = (ev.domain.predict(images) == labels).double().numpy()
            correct.setdefault(variant, []).append(hits)
    result = C3.result(
        {"correct": correct, SEEDS: list(cs.seeds)},
        n_seeds=len(cs.seeds),
        n_samples=cs.variant_samples,
        details={
            "budget_per_run": budget,
            "trained": trained,
            "measured": "one condition (the class label) through each injection",
            "beyond the class label": "C15 (attribute vectors, maps, text)",
        },
    )
    return (result,)


def decide_c3(ev: Evidence) -> Decided:
    """adaLN-Zero − each other DiT injection, class accuracy per seed, Bonferroni over them."""
    correct: dict[str, list[list[float]]] = ev["correct"]  # variant → per seed → 0/1 per sample
    others = [v for v in correct if v != ADALN_ZERO and not v.startswith("U-Net")]
    level = stats.bonferroni(len(others))
    diffs = [
        stats.paired_seed_differences(
            f"adaLN-Zero − {v}, class accuracy", correct[ADALN_ZERO], correct[v], level
        )
        for v in others
    ]
    accuracy = [
        stats.proportion(f"{v} class accuracy (all seeds)", np.concatenate(c))
        for v, c in correct.items()
    ]
    decision = rules.c3_conditioning(diffs)
    return (*diffs, *accuracy), decision


def run_c3(ev: Evidence) -> Decided:
    """One seed: adaLN-Zero − each other DiT injection over its samples (same labels and noise),
    Bonferroni over them."""
    correct = ev["correct"]
    others = [v for v in correct if v != ADALN_ZERO and not v.startswith("U-Net")]
    level = stats.bonferroni(len(others))
    diffs = [
        run_difference(
            f"adaLN-Zero − {v}, class accuracy", correct[ADALN_ZERO][0], correct[v][0], level=level
        )
        for v in others
    ]
    return tuple(diffs), rules.c3_conditioning(diffs)


EXPERIMENT = Experiment(
    "conditioning variants",
    conditioning_claim,
    ("seeds", "variant_flops", "variant_minutes", "variant_samples"),
)
C3 = ClaimEntry(
    "C3",
    EXPERIMENT,
    rules.c3_conditioning,
    decide_c3,
    PerSeed(lambda ev: split_at(ev, {"correct": 1}), run_c3),
)
ENTRIES = (C3,)
