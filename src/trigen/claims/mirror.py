"""Claims C1 (long-range structure) and C2 (fine detail), from one set of runs: the U-Net and a
DiT of comparable parameters trained with equal budget (training FLOPs, or wall-clock minutes
where the settings give none) on the built-in ``mirror`` dataset, once per training seed."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from trigen.build import DataSpec, build_family
from trigen.claims import rules
from trigen.claims.context import ClaimContext, sample_images, trained_record
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult
from trigen.claims.seeded import SEEDS, PerSeed, run_difference, split_at
from trigen.claims.settings import budget_text, claim_budget
from trigen.config import FamilyName
from trigen.data.datasets import load_dataset
from trigen.eval.consistency import mirror_consistency
from trigen.eval.cost import count_parameters
from trigen.eval.denoising import denoising_mse
from trigen.eval.receptive_field import erf_radius, receptive_field
from trigen.eval.spectrum import hf_ratio
from trigen.measure import stats
from trigen.measure.probes import PROBE_TIMESTEP, RF_BATCH
from trigen.runs import Loaded

MIRROR = "mirror"
# DiT shapes tried for "comparable parameters" with the U-Net; the closest count is used
DIT_SHAPES = ((4, 96, 2), (6, 96, 2), (4, 128, 2), (6, 128, 2), (8, 96, 2), (8, 128, 2))


def _matched_dit(ctx: ClaimContext, unet_cfg, spec: DataSpec) -> dict:
    """DiT overrides whose parameter count is closest to the U-Net's."""
    unet_params = count_parameters(build_family(unet_cfg, spec, torch.device("cpu")).net)
    best, best_gap = {}, float("inf")
    for depth, hidden, heads in DIT_SHAPES:
        overrides = {"depth": depth, "hidden": hidden, "heads": heads}
        cfg = ctx.config_for(FamilyName.DIT, dataset=MIRROR, resolution=unet_cfg.resolution)
        cfg = dataclasses.replace(cfg, model_overrides={**cfg.model_overrides, **overrides})
        gap = abs(count_parameters(build_family(cfg, spec, torch.device("cpu")).net) - unet_params)
        if gap < best_gap:
            best, best_gap = overrides, gap
    return best


def mirror_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C1 and C2 from one set of runs: U-Net and a DiT of comparable size on ``mirror``."""
    cs = ctx.claims
    res = cs.mirror_resolution
    test = load_dataset(MIRROR, "test", resolution=res)
    spec = DataSpec(test.shape, test.num_classes)
    budget = claim_budget(cs.mirror_flops, cs.mirror_minutes)
    unet_cfg = ctx.config_for(FamilyName.UNET, resolution=res, dataset=MIRROR, **budget)
    dit_overrides = _matched_dit(ctx, unet_cfg, spec)
    per_seed: dict[str, list] = {"unet": [], "dit": []}
    trained: dict[str, list] = {"unet": [], "dit": []}  # per seed: what each run got
    for seed in cs.seeds:
        for name in (FamilyName.UNET, FamilyName.DIT):
            cfg = ctx.config_for(name, resolution=res, seed=seed, dataset=MIRROR, **budget)
            if name is FamilyName.DIT:
                cfg = dataclasses.replace(
                    cfg, model_overrides={**cfg.model_overrides, **dit_overrides}
                )
            ctx.log(f"  mirror {name.value} seed {seed} ({budget_text(budget)})")
            loaded, summary = ctx.train(cfg, ctx.run_dir(MIRROR, name.value, seed))
            trained[name.value].append(trained_record(summary))
            per_seed[name.value].append(_mirror_measure(ctx, loaded, test, seed))
    return _mirror_results(ctx, per_seed, {"budget_per_run": budget, "trained": trained})


def _mirror_measure(ctx: ClaimContext, loaded: Loaded, test, seed: int) -> dict:
    cs = ctx.claims
    images, labels = sample_images(ctx, loaded, cs.mirror_samples, seed)
    consistency = mirror_consistency(images, labels if loaded.data.num_classes else None)
    net = loaded.family.net
    probe = test[slice(0, RF_BATCH)].to(ctx.device)
    x, y = probe.images, probe.labels
    t = torch.full((RF_BATCH,), PROBE_TIMESTEP, device=ctx.device)
    noisy = x + 0.5 * torch.randn(x.shape, generator=ctx.generator(seed), device=ctx.device)
    field = receptive_field(lambda v: net(v, t, y), noisy)
    n = min(cs.mirror_samples, len(test))
    held_out = test[slice(0, n)].to(ctx.device)
    mse = denoising_mse(
        loaded.family, held_out.images, held_out.labels, generator=ctx.generator(1234)
    )
    return {
        "params": count_parameters(net),
        "consistency": consistency.scores,
        "erf_radius": erf_radius(field),
        "mse": mse.mean(axis=1),  # (N,) mean over the low noise levels
        "hf": hf_ratio(images, test.images[:n]).per_image,
    }


def _mirror_results(
    ctx: ClaimContext, per_seed: dict[str, list], runs: dict[str, Any]
) -> tuple[ClaimResult, ...]:
    """C1 and C2 decided on per-seed values (t over training seeds), per-sample values kept;
    ``runs``: the training budget and what each run got of it."""
    params = {f: rs[0]["params"] for f, rs in per_seed.items()}
    seeds, n_samples = len(per_seed["unet"]), ctx.claims.mirror_samples
    trained = list(ctx.claims.seeds)

    def per_sample(key: str) -> dict[str, list]:
        return {f: [r[key] for r in rs] for f, rs in per_seed.items()}

    c1 = C1.result(
        {
            "consistency": per_sample("consistency"),
            "erf_radius": {f: [r["erf_radius"] for r in rs] for f, rs in per_seed.items()},
            SEEDS: trained,
        },
        n_seeds=seeds,
        n_samples=n_samples,
        details={"params": params, **runs},
    )
    c2 = C2.result(
        {"mse": per_sample("mse"), "hf": per_sample("hf"), SEEDS: trained},
        n_seeds=seeds,
        n_samples=n_samples,
        details={"params": params, "dataset": f"{MIRROR} {ctx.claims.mirror_resolution} px"},
    )
    return c1, c2


def _per_seed_means(samples: list[list[float]]) -> list[float]:
    return [float(np.nanmean(s)) for s in samples]


def decide_c1(ev: Evidence) -> Decided:
    """DiT − U-Net mirror consistency, per training seed (t over seeds)."""
    means = {f: _per_seed_means(ev["consistency"][f]) for f in ("unet", "dit")}
    diff = stats.seeds_interval(
        "DiT − U-Net mirror consistency",
        [d - u for d, u in zip(means["dit"], means["unet"], strict=True)],
    )
    measured = [diff]
    for f in ("unet", "dit"):
        measured.append(stats.seeds_interval(f"{f} mirror consistency", means[f]))
        measured.append(
            stats.seeds_interval(f"{f} ERF radius (90 % mass)", ev["erf_radius"][f], unit="px")
        )
    return tuple(measured), rules.c1_long_range(diff)


def decide_c2(ev: Evidence) -> Decided:
    """DiT − U-Net low-noise x̂₀ MSE on the same images and noise, per seed (t over seeds)."""
    means = {f: _per_seed_means(ev["mse"][f]) for f in ("unet", "dit")}
    diff = stats.seeds_interval(
        "DiT − U-Net x̂₀ MSE at σ ≤ 0.2",
        [d - u for d, u in zip(means["dit"], means["unet"], strict=True)],
        unit="data units²",
    )
    measured = [diff]
    for f in ("unet", "dit"):
        measured.append(stats.seeds_interval(f"{f} x̂₀ MSE at σ ≤ 0.2", means[f]))
        hf = _per_seed_means(ev["hf"][f])
        measured.append(stats.seeds_interval(f"{f} high-frequency energy, samples ÷ data", hf))
    return tuple(measured), rules.c2_fine_detail(diff)


def run_c1(ev: Evidence) -> Decided:
    """One seed: DiT − U-Net mirror consistency over its samples (paired by label)."""
    consistency = ev["consistency"]
    diff = run_difference(
        "DiT − U-Net mirror consistency", consistency["dit"][0], consistency["unet"][0]
    )
    return (diff,), rules.c1_long_range(diff)


def run_c2(ev: Evidence) -> Decided:
    """One seed: DiT − U-Net low-noise x̂₀ MSE over the same images and noise."""
    mse = ev["mse"]
    diff = run_difference(
        "DiT − U-Net x̂₀ MSE at σ ≤ 0.2", mse["dit"][0], mse["unet"][0], unit="data units²"
    )
    return (diff,), rules.c2_fine_detail(diff)


EXPERIMENT = Experiment(
    "long-range consistency and fine detail on `mirror`",
    mirror_claims,
    settings=("seeds", "mirror_resolution", "mirror_flops", "mirror_minutes", "mirror_samples"),
)
C1 = ClaimEntry(
    "C1",
    EXPERIMENT,
    rules.c1_long_range,
    decide_c1,
    PerSeed(lambda ev: split_at(ev, {"consistency": 1, "erf_radius": 1}), run_c1),
)
C2 = ClaimEntry(
    "C2",
    EXPERIMENT,
    rules.c2_fine_detail,
    decide_c2,
    PerSeed(lambda ev: split_at(ev, {"mse": 1, "hf": 1}), run_c2),
)
ENTRIES = (C1, C2)
