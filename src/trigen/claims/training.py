"""Claims that need runs of their own: long-range structure (C1) and fine detail (C2) on the
mirror dataset, conditioning (C3), DiT scaling (C5), quality against resolution (C8, C11)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from trigen.api import Loaded
from trigen.build import DataSpec, build_family
from trigen.claims import rules, stats
from trigen.claims.context import ClaimContext
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Series
from trigen.compare.measure import cycling_labels, forward_flops, generate, sample_spec
from trigen.compare.studies import RF_BATCH, RF_TIMESTEP, variant_configs
from trigen.config import FamilyName
from trigen.data.datasets import load_dataset
from trigen.eval.consistency import mirror_consistency
from trigen.eval.cost import count_parameters
from trigen.eval.denoising import denoising_mse
from trigen.eval.domain import DomainClassifier
from trigen.eval.fid import fid_replicates
from trigen.eval.receptive_field import erf_radius, receptive_field
from trigen.eval.spectrum import hf_ratio

MIRROR = "mirror"
# DiT shapes tried for "comparable parameters" with the U-Net; the closest count is used
DIT_SHAPES = ((4, 96, 2), (6, 96, 2), (4, 128, 2), (6, 128, 2), (8, 96, 2), (8, 128, 2))


def _samples(ctx: ClaimContext, loaded: Loaded, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    labels = cycling_labels(n, loaded.data.num_classes)
    spec = sample_spec(FamilyName(loaded.config.family), ctx.compare)
    images = generate(loaded.family, labels, spec, seed=seed, batch=ctx.compare.sample_batch_size)
    return images, labels


def _run_dir(ctx: ClaimContext, *parts: object) -> Path:
    return ctx.out / "claims" / "-".join(str(p).replace(" ", "_") for p in parts)


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


# ------------------------------------------------------------------------------- C1 and C2


def mirror_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C1 and C2 from one set of runs: U-Net and a DiT of comparable size on ``mirror``."""
    cs = ctx.claims
    res = cs.mirror_resolution
    test = load_dataset(MIRROR, "test", resolution=res)
    spec = DataSpec(test.shape, test.num_classes)
    budget = {"max_minutes": cs.mirror_minutes, "max_images": None, "dataset": MIRROR}
    unet_cfg = ctx.config_for(FamilyName.UNET, resolution=res, **budget)
    dit_overrides = _matched_dit(ctx, unet_cfg, spec)
    per_seed: dict[str, list] = {"unet": [], "dit": []}
    for seed in cs.seeds:
        for name in (FamilyName.UNET, FamilyName.DIT):
            cfg = ctx.config_for(name, resolution=res, seed=seed, **budget)
            if name is FamilyName.DIT:
                cfg = dataclasses.replace(
                    cfg, model_overrides={**cfg.model_overrides, **dit_overrides}
                )
            ctx.log(f"  mirror {name.value} seed {seed} ({cs.mirror_minutes:g} min)")
            loaded, _ = ctx.train(cfg, _run_dir(ctx, MIRROR, name.value, seed))
            per_seed[name.value].append(_mirror_measure(ctx, loaded, test, seed))
    return _c1(ctx, per_seed), _c2(ctx, per_seed)


def _mirror_measure(ctx: ClaimContext, loaded: Loaded, test, seed: int) -> dict:
    cs = ctx.claims
    images, labels = _samples(ctx, loaded, cs.mirror_samples, seed)
    consistency = mirror_consistency(images, labels if loaded.data.num_classes else None)
    net = loaded.family.net
    x, y = test[slice(0, RF_BATCH)]
    x, y = x.to(ctx.device), y.to(ctx.device)
    t = torch.full((RF_BATCH,), RF_TIMESTEP, device=ctx.device)
    noisy = x + 0.5 * torch.randn(x.shape, generator=ctx.generator(seed), device=ctx.device)
    field = receptive_field(lambda v: net(v, t, y), noisy)
    n = min(cs.mirror_samples, len(test))
    xs, ys = test[slice(0, n)]
    mse = denoising_mse(
        loaded.family, xs.to(ctx.device), ys.to(ctx.device), generator=ctx.generator(1234)
    )
    return {
        "params": count_parameters(net),
        "consistency": consistency.scores,
        "erf_radius": erf_radius(field),
        "mse": mse.mean(axis=1),  # (N,) mean over the low noise levels
        "hf": hf_ratio(images, test.images[:n]).per_image,
    }


def _c1(ctx: ClaimContext, per_seed: dict[str, list]) -> ClaimResult:
    means = {f: [float(np.nanmean(r["consistency"])) for r in rs] for f, rs in per_seed.items()}
    diff_values = [d - u for d, u in zip(means["dit"], means["unet"], strict=True)]
    if len(diff_values) >= 2:
        diff = stats.seeds_interval("DiT − U-Net mirror consistency", diff_values)
    else:  # one seed: the interval comes from the samples
        d, u = per_seed["dit"][0]["consistency"], per_seed["unet"][0]["consistency"]
        diff = stats.paired_difference("DiT − U-Net mirror consistency", d, u)
    measured = [diff]
    for f, rs in per_seed.items():
        measured.append(_over_seeds(f"{f} mirror consistency", means[f], rs[0]["consistency"]))
        radii = [r["erf_radius"] for r in rs]
        measured.append(_over_seeds(f"{f} ERF radius (90 % mass)", radii, None, unit="px"))
    decision = rules.c1_long_range(diff)
    params = {f: rs[0]["params"] for f, rs in per_seed.items()}
    return ClaimResult(
        CLAIMS["C1"],
        decision.verdict,
        decision.why,
        tuple(measured),
        n_seeds=len(diff_values),
        n_samples=ctx.claims.mirror_samples,
        details={
            "params": params,
            "consistency_per_seed": means,
            "minutes_per_run": ctx.claims.mirror_minutes,
        },
    )


def _over_seeds(name: str, values: list[float], samples, unit: str = "") -> Estimate:
    if len(values) >= 2:
        return stats.seeds_interval(name, values, unit=unit)
    if samples is not None:
        return stats.bootstrap(name, samples, np.nanmean, unit=unit)
    return Estimate.exact(name, values[0], unit)


def _c2(ctx: ClaimContext, per_seed: dict[str, list]) -> ClaimResult:
    # same test images and noise for both families: per-image differences, averaged over seeds
    mse = {f: np.mean([r["mse"] for r in rs], axis=0) for f, rs in per_seed.items()}
    diff = stats.paired_difference(
        "DiT − U-Net x̂₀ MSE at σ ≤ 0.2", mse["dit"], mse["unet"], unit="data units²"
    )
    measured = [diff]
    for f in per_seed:
        measured.append(stats.bootstrap(f"{f} x̂₀ MSE at σ ≤ 0.2", mse[f], unit="data units²"))
        hf = np.concatenate([r["hf"] for r in per_seed[f]])
        measured.append(stats.bootstrap(f"{f} high-frequency energy, samples ÷ data", hf))
    decision = rules.c2_fine_detail(diff)
    params = {f: rs[0]["params"] for f, rs in per_seed.items()}
    return ClaimResult(
        CLAIMS["C2"],
        decision.verdict,
        decision.why,
        tuple(measured),
        n_seeds=len(per_seed["unet"]),
        n_samples=len(mse["unet"]),
        details={"params": params, "dataset": f"{MIRROR} {ctx.claims.mirror_resolution} px"},
    )


# --------------------------------------------------------------------------------------- C3


def conditioning_claim(ctx: ClaimContext) -> ClaimResult:
    """C3: class accuracy of each DiT conditioning variant and the U-Net's AdaGN, equal budget."""
    ev, cs = ctx.evaluators, ctx.claims
    if ev.domain is None:
        return ClaimResult.not_run(CLAIMS["C3"], "needs a dataset with classes")
    budget = {"max_minutes": cs.variant_minutes, "max_images": None}
    base = ctx.config_for(FamilyName.DIT, **budget)
    runs = [(v, cfg) for v, cfg in variant_configs(base, "conditioning")]
    runs.append(("U-Net AdaGN", ctx.config_for(FamilyName.UNET, **budget)))
    correct: dict[str, np.ndarray] = {}
    for variant, cfg in runs:
        ctx.log(f"  conditioning: {variant} ({cs.variant_minutes:g} min)")
        loaded, _ = ctx.train(cfg, _run_dir(ctx, "conditioning", variant))
        images, labels = _samples(ctx, loaded, cs.variant_samples, ctx.compare.seed)
        correct[variant] = (ev.domain.predict(images) == labels).double().numpy()
    dit = [v for v in correct if v != "U-Net AdaGN"]
    zero = "adaln_zero"
    others = np.mean([correct[v] for v in dit if v != zero], axis=0)
    diff = stats.paired_difference(
        "adaLN-Zero − other DiT variants, class accuracy", correct[zero], others
    )
    measured = [diff] + [stats.bootstrap(f"{v} class accuracy", c) for v, c in correct.items()]
    decision = rules.c3_conditioning(diff)
    return ClaimResult(
        CLAIMS["C3"],
        decision.verdict,
        decision.why,
        tuple(measured),
        n_seeds=1,
        n_samples=cs.variant_samples,
        details={
            "minutes_per_run": cs.variant_minutes,
            "second_condition": "not measured: DiT takes one class condition today",
        },
    )


# --------------------------------------------------------------------------------------- C5


def scaling_claim(ctx: ClaimContext) -> ClaimResult:
    """C5: domain FID against GFLOPs per forward for DiT sizes trained on the same images."""
    ev, cs = ctx.evaluators, ctx.claims
    if ev.domain is None or ev.domain_ref_stats is None:
        return ClaimResult.not_run(CLAIMS["C5"], "needs a dataset with classes")
    base = ctx.config_for(FamilyName.DIT, max_minutes=None, max_images=cs.scaling_images)
    gflops, fids, reps, rows = [], [], [], []
    for variant, cfg in variant_configs(base, "dit_scaling"):
        ctx.log(f"  DiT scaling: {variant} ({cs.scaling_images} images)")
        loaded, _ = ctx.train(cfg, _run_dir(ctx, "scaling", variant.replace("×", "x")))
        images, _ = _samples(ctx, loaded, cs.variant_samples, ctx.compare.seed)
        value, r = fid_replicates(
            ev.domain.features(images), ev.domain_ref_stats, resamples=cs.bootstrap
        )
        g = forward_flops(FamilyName.DIT, loaded.family) / 1e9
        gflops.append(g)
        fids.append(value)
        reps.append(r)
        rows.append(
            {
                "variant": variant,
                "gflops": g,
                "domain_fid": value,
                "params": count_parameters(loaded.family.net),
            }
        )
    slope = stats.loglog_slope("slope of log domain FID on log GFLOPs", gflops, fids)
    boot = [
        stats.loglog_slope("b", gflops, [float(r[b]) for r in reps]).value
        for b in range(cs.bootstrap)
    ]
    low, high = stats.percentile_interval(np.array(boot))
    slope = dataclasses.replace(
        slope,
        low=min(low, slope.value),
        high=max(high, slope.value),
        method=f"bootstrap 95 % over samples ({cs.bootstrap})",
    )
    decision = rules.c5_scaling(slope)
    series = [
        Series(
            "DiT sizes", gflops, fids, "GFLOPs per forward", "domain FID (lower is better)"
        ).to_dict()
    ]
    return ClaimResult(
        CLAIMS["C5"],
        decision.verdict,
        decision.why,
        (slope,),
        n_seeds=1,
        n_samples=cs.variant_samples,
        details={"sizes": rows, "images_per_run": cs.scaling_images, "series": series},
    )


# ------------------------------------------------------------------------------ C8 and C11


def resolution_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C8 and C11 from one grid of runs: every family at every resolution, equal minutes."""
    cs = ctx.claims
    if ctx.train_data.num_classes < 2:
        reason = "needs a dataset with classes (class accuracy is the quality measure)"
        return ClaimResult.not_run(CLAIMS["C8"], reason), ClaimResult.not_run(CLAIMS["C11"], reason)
    correct: dict[int, dict[str, np.ndarray]] = {}
    for res in cs.quality_resolutions:
        train = load_dataset(
            ctx.compare.dataset, "train", root=ctx.compare.data_root, resolution=res
        )
        test = load_dataset(ctx.compare.dataset, "test", root=ctx.compare.data_root, resolution=res)
        domain = DomainClassifier.train_or_load(
            train,
            test,
            ctx.cache_dir,
            seconds_budget=ctx.compare.domain_seconds,
            device=ctx.device,
        )
        correct[res] = {}
        for family in cs.resolution_families:
            name = FamilyName(family)
            cfg = ctx.config_for(
                name, resolution=res, max_minutes=cs.resolution_minutes, max_images=None
            )
            ctx.log(f"  resolution {res} px: {family} ({cs.resolution_minutes:g} min)")
            loaded, _ = ctx.train(cfg, _run_dir(ctx, "resolution", res, family))
            images, labels = _samples(ctx, loaded, cs.resolution_samples, ctx.compare.seed)
            correct[res][family] = (domain.predict(images) == labels).double().numpy()
    return _c8(ctx, correct), _c11(ctx, correct)


def _accuracy(correct: np.ndarray, name: str) -> Estimate:
    return stats.bootstrap(name, correct)


def _c8(ctx: ClaimContext, correct: dict[int, dict[str, np.ndarray]]) -> ClaimResult:
    lo, hi = min(correct), max(correct)
    diffusion = "unet" if "unet" in correct[lo] else "dit"
    if "ar" not in correct[lo] or diffusion not in correct[lo]:
        return ClaimResult.not_run(CLAIMS["C8"], "needs the AR family and a diffusion family")
    gap_lo = correct[lo]["ar"] - correct[lo][diffusion]
    gap_hi = correct[hi]["ar"] - correct[hi][diffusion]
    rng = np.random.default_rng(0)
    reps = [
        gap_lo[rng.integers(0, gap_lo.size, gap_lo.size)].mean()
        - gap_hi[rng.integers(0, gap_hi.size, gap_hi.size)].mean()
        for _ in range(stats.BOOTSTRAP_RESAMPLES)
    ]
    low, high = stats.percentile_interval(np.array(reps))
    change = Estimate(
        f"(AR − {diffusion}) class accuracy at {lo} px minus at {hi} px",
        float(gap_lo.mean() - gap_hi.mean()),
        low,
        high,
        "",
        gap_lo.size,
        f"bootstrap 95 % ({stats.BOOTSTRAP_RESAMPLES} resamples)",
    )
    measured = [change]
    for res, fams in correct.items():
        measured += [_accuracy(c, f"{f} class accuracy at {res} px") for f, c in fams.items()]
    decision = rules.c8_resolution(change)
    return ClaimResult(
        CLAIMS["C8"],
        decision.verdict,
        decision.why,
        tuple(measured),
        n_seeds=1,
        n_samples=gap_lo.size,
        details={
            "series": _accuracy_series(correct),
            "minutes_per_run": ctx.claims.resolution_minutes,
        },
    )


def _c11(ctx: ClaimContext, correct: dict[int, dict[str, np.ndarray]]) -> ClaimResult:
    lo, hi = min(correct), max(correct)
    scores = {
        res: {f: _accuracy(c, f"{f} class accuracy at {res} px") for f, c in fams.items()}
        for res, fams in correct.items()
    }
    decision = rules.c11_best_use(scores[lo], scores[hi])
    winners = {res: rules.clear_winner(s) or "tie" for res, s in scores.items()}
    return ClaimResult(
        CLAIMS["C11"],
        decision.verdict,
        decision.why,
        tuple(e for s in scores.values() for e in s.values()),
        n_seeds=1,
        n_samples=ctx.claims.resolution_samples,
        details={"winner_per_resolution": winners, "series": _accuracy_series(correct)},
    )


def _accuracy_series(correct: dict[int, dict[str, np.ndarray]]) -> list[dict]:
    series = []
    for family in next(iter(correct.values())):
        ests = [_accuracy(correct[r][family], family) for r in sorted(correct)]
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
