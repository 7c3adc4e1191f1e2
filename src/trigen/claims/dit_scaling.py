"""Claim C5: DiT quality scales with depth / width / GFLOPs. DiT sizes trained on the same images
(one seed), bias-corrected domain FID∞ against GFLOPs per forward, and the log-log slope."""

from __future__ import annotations

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, sample_images
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Estimate, Series
from trigen.claims.seeded import PerSeed, over_training_seeds, runs_of
from trigen.config import FamilyName
from trigen.eval.cost import count_parameters
from trigen.eval.fid_bootstrap import FidDraws, corrected
from trigen.measure import stats
from trigen.measure.probes import forward_flops
from trigen.measure.variants import dit_scaling_configs


def scaling_claim(ctx: ClaimContext) -> tuple[ClaimResult, ...]:
    """C5 with the sizes trained once per training seed of the comparison: decided per seed and
    pooled."""
    return over_training_seeds(ctx, _scaling_run, (C5,))


def _scaling_run(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C5: domain FID∞ against GFLOPs per forward for DiT sizes trained on the same images."""
    ev, cs = ctx.evaluators, ctx.claims
    instrument = ev.domain_fid(cs.bootstrap)
    if ev.domain is None or instrument is None:
        return (C5.not_run("needs a dataset with classes"),)
    base = ctx.config_for(FamilyName.DIT, max_minutes=None, max_images=cs.scaling_images)
    gflops, draws, rows = [], [], []
    for variant, cfg in dit_scaling_configs(base):
        ctx.log(f"  DiT scaling: {variant} ({cs.scaling_images} images)")
        loaded, _ = ctx.train(cfg, ctx.run_dir("scaling", variant.replace("×", "x")))
        images, labels = sample_images(ctx, loaded, cs.variant_samples, ctx.compare.seed)
        d = instrument.draws(ev.domain.features(images), labels.numpy())
        g = forward_flops(loaded.family) / 1e9
        gflops.append(g)
        draws.append(d.to_dict())
        params = count_parameters(loaded.family.net)
        rows.append(
            {"variant": variant, "gflops": g, "domain_fid": corrected(d)[0], "params": params}
        )
    fids = [r["domain_fid"] for r in rows]
    series = [
        Series(
            "DiT sizes", gflops, fids, "GFLOPs per forward", "domain FID∞ (lower is better)"
        ).to_dict()
    ]
    result = C5.result(
        {"gflops": gflops, "fid": draws},
        n_seeds=1,
        n_samples=cs.variant_samples,
        details={"sizes": rows, "images_per_run": cs.scaling_images, "series": series},
    )
    return (result,)


def decide_c5(ev: Evidence) -> Decided:
    """Slope of log FID∞ on log GFLOPs: OLS on the corrected points, interval from the slopes
    of the bias-corrected bootstrap replicates (each replicate's FIDs moved by their bias)."""
    gflops = ev["gflops"]
    draws = [FidDraws.from_dict(d) for d in ev["fid"]]
    fids = [
        stats.fid(f"domain FID∞ at {g:.3g} GFLOPs", d) for g, d in zip(gflops, draws, strict=True)
    ]
    name = "slope of log domain FID∞ on log GFLOPs"
    point = stats.loglog_slope(name, gflops, [max(e.value, 1e-9) for e in fids]).value
    if len(gflops) < stats.MIN_FIT_POINTS or not all(e.determined for e in fids):
        why = "needs ≥ 3 sizes, each with a FID∞ interval"
        slope = Estimate.undetermined(name, point, why, "", len(gflops), "points")
        return (slope, *fids), rules.c5_scaling(slope)
    # replicate b of every size, moved down by twice that size's bias: a draw of FID∞
    reps = np.array([2 * d.value - 2 * d.replicates.mean() + d.replicates for d in draws])
    reps = np.clip(reps, 1e-9, None)
    boot = [stats.loglog_slope(name, gflops, list(reps[:, b])).value for b in range(reps.shape[1])]
    low, high = stats.percentile_interval(np.array(boot))
    slope = Estimate(
        name,
        point,
        min(low, point),
        max(high, point),
        "",
        len(gflops),
        f"bias-corrected bootstrap 95 % over samples ({reps.shape[1]} resamples)",
        "sizes",
    )
    return (slope, *fids), rules.c5_scaling(slope)


def pool_c5(ev: Evidence) -> Decided:
    """Each seed's slope of log FID∞ on log GFLOPs, t over the training seeds."""
    slopes = [decide_c5(r)[0][0].value for r in runs_of(ev)]
    slope = stats.seeds_interval("slope of log domain FID∞ on log GFLOPs", slopes)
    return (slope,), rules.c5_scaling(slope)


EXPERIMENT = Experiment(
    "DiT scaling", scaling_claim, ("bootstrap", "scaling_images", "variant_samples")
)
C5 = ClaimEntry("C5", EXPERIMENT, rules.c5_scaling, decide_c5, PerSeed(runs_of, decide_c5, pool_c5))
ENTRIES = (C5,)
