"""Claims C8 (AR loses global structure at high resolution, diffusion keeps it) and C11 (best
use of each family by resolution), from one grid of runs: every family at every resolution,
equal training FLOPs per run (wall-clock minutes where the settings give none), once per seed,
judged by the class accuracy of the samples."""

from __future__ import annotations

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, sample_images, trained_record
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Estimate, Series
from trigen.claims.seeded import SEEDS, PerSeed, run_difference, split_at
from trigen.claims.settings import budget_text, claim_budget
from trigen.config import FamilyName
from trigen.data.datasets import load_dataset
from trigen.eval.domain import DomainClassifier
from trigen.measure import stats

C11_CLAIMED = {"lowest": "ar", "middle": "unet", "highest": "dit"}  # the family best at each


def resolution_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C8 and C11 from one grid of runs: every family at every resolution, equal budget."""
    cs = ctx.claims
    if ctx.train_data.num_classes < 2:
        reason = "needs a dataset with classes (class accuracy is the quality measure)"
        return C8.not_run(reason), C11.not_run(reason)
    correct: dict[int, dict[str, np.ndarray]] = {}
    budget = claim_budget(cs.resolution_flops, cs.resolution_minutes)
    trained: dict[str, list] = {}  # "<family> at <res> px" → per seed: what its run got
    for res in cs.quality_resolutions:
        train = load_dataset(
            ctx.compare.dataset, "train", root=ctx.compare.data_root, resolution=res
        )
        test = load_dataset(ctx.compare.dataset, "test", root=ctx.compare.data_root, resolution=res)
        domain = DomainClassifier.train_or_load(
            train,
            test,
            ctx.cache_dir,
            max_images=ctx.compare.domain_images,
            device=ctx.device,
        )
        correct[res] = {}
        for family in cs.resolution_families:
            name = FamilyName(family)
            for seed in cs.seeds:
                cfg = ctx.config_for(name, resolution=res, seed=seed, **budget)
                ctx.log(f"  resolution {res} px: {family}, seed {seed} ({budget_text(budget)})")
                loaded, summary = ctx.train(cfg, ctx.run_dir("resolution", res, family, seed))
                trained.setdefault(f"{family} at {res} px", []).append(trained_record(summary))
                images, labels = sample_images(ctx, loaded, cs.resolution_samples, seed)
                hits = (domain.predict(images) == labels).double().numpy()
                correct[res].setdefault(family, []).append(hits)
    seeds, samples = len(cs.seeds), cs.resolution_samples
    details = {"series": _accuracy_series(correct), "budget_per_run": budget, "trained": trained}
    lowest = correct[min(correct)]
    diffusion = "unet" if "unet" in lowest else "dit"
    if "ar" not in lowest or diffusion not in lowest:
        c8 = C8.not_run("needs the AR family and a diffusion family")
    else:
        evidence = {"correct": correct, "diffusion": diffusion, SEEDS: list(cs.seeds)}
        c8 = C8.result(evidence, n_seeds=seeds, n_samples=samples, details=details)
    evidence = {"correct": correct, SEEDS: list(cs.seeds)}
    c11 = C11.result(evidence, n_seeds=seeds, n_samples=samples, details=details)
    return c8, c11


def _accuracy_series(correct: dict[int, dict[str, list[np.ndarray]]]) -> list[dict]:
    series = []
    for family in next(iter(correct.values())):
        ests = [
            stats.proportion(family, np.concatenate(correct[r][family])) for r in sorted(correct)
        ]
        series.append(
            Series(
                family,
                sorted(correct),
                [e.value for e in ests],
                "resolution (px)",
                "class accuracy of samples",
                low=[e.low for e in ests],
                high=[e.high for e in ests],
                logy=False,
            ).to_dict()
        )
    return series


def decide_c8(ev: Evidence) -> Decided:
    """(AR − diffusion) class accuracy at the lowest minus at the highest resolution, per seed."""
    correct, diffusion = ev["correct"], ev["diffusion"]
    lo, hi = str(min(map(int, correct))), str(max(map(int, correct)))
    per_seed = [
        float(np.mean(ar_lo) - np.mean(d_lo) - np.mean(ar_hi) + np.mean(d_hi))
        for ar_lo, d_lo, ar_hi, d_hi in zip(
            correct[lo]["ar"],
            correct[lo][diffusion],
            correct[hi]["ar"],
            correct[hi][diffusion],
            strict=True,
        )
    ]
    change = stats.seeds_interval(
        f"(AR − {diffusion}) class accuracy at {lo} px minus at {hi} px", per_seed
    )
    accuracy = [
        stats.proportion(f"{f} class accuracy at {res} px (all seeds)", np.concatenate(c))
        for res, fams in correct.items()
        for f, c in fams.items()
    ]
    return (change, *accuracy), rules.c8_resolution(change)


def run_c8(ev: Evidence) -> Decided:
    """One seed: (AR − diffusion) class accuracy at the lowest minus at the highest resolution,
    over its samples."""
    correct, diffusion = ev["correct"], ev["diffusion"]
    lo, hi = str(min(map(int, correct))), str(max(map(int, correct)))
    gap = {res: np.subtract(correct[res]["ar"][0], correct[res][diffusion][0]) for res in (lo, hi)}
    name = f"(AR − {diffusion}) class accuracy at {lo} px minus at {hi} px"
    change = run_difference(name, gap[lo].tolist(), gap[hi].tolist())
    return (change,), rules.c8_resolution(change)


def decide_c11(ev: Evidence) -> Decided:
    """The claimed family against each other family at each end of the range (t over seeds,
    Bonferroni over every comparison of the claim)."""
    return _c11(ev, stats.paired_seed_differences)


def run_c11(ev: Evidence) -> Decided:
    """One seed: the claimed family against each other at each end, over its samples."""

    def one_run(name: str, a: list, b: list, level: float) -> Estimate:
        return run_difference(name, a[0], b[0], level=level)

    return _c11(ev, one_run)


def _c11(ev: Evidence, difference) -> Decided:
    """C11 with ``difference(name, a per seed, b per seed, level)`` the claimed family minus
    another at one resolution."""
    correct = ev["correct"]
    resolutions = sorted(map(int, correct))
    at = {"lowest": resolutions[0], "highest": resolutions[-1]}
    if len(resolutions) >= 3:
        at["middle"] = resolutions[len(resolutions) // 2]
    ends = {k: v for k, v in at.items() if C11_CLAIMED[k] in correct[str(v)]}
    comparisons = sum(len(correct[str(res)]) - 1 for res in ends.values())
    level = stats.bonferroni(comparisons)
    measured, decisions = [], []
    for end, res in ends.items():
        fams = correct[str(res)]
        family = C11_CLAIMED[end]
        diffs = {
            other: difference(
                f"{family} − {other} class accuracy at {res} px", fams[family], fams[other], level
            )
            for other in fams
            if other != family
        }
        measured += diffs.values()
        decisions.append(rules.best_at(family, f"{res} px ({end})", diffs))
    return tuple(measured), rules.c11_best_use(decisions)


def split_by_seed(ev: Evidence) -> list[Evidence]:
    """One evidence per training seed, for C8 and C11 alike: the sweep's class-correct flags
    ``correct[resolution][family]`` of that seed."""
    return split_at(ev, {"correct": 2})


EXPERIMENT = Experiment(
    "quality vs resolution",
    resolution_claims,
    (
        "seeds",
        "quality_resolutions",
        "resolution_families",
        "resolution_flops",
        "resolution_minutes",
        "resolution_samples",
    ),
)
C8 = ClaimEntry("C8", EXPERIMENT, rules.c8_resolution, decide_c8, PerSeed(split_by_seed, run_c8))
C11 = ClaimEntry("C11", EXPERIMENT, rules.c11_best_use, decide_c11, PerSeed(split_by_seed, run_c11))
ENTRIES = (C8, C11)
