"""Claims measured on the comparison's own trained families: likelihood (C9), steps (C10) and
speed at equal quality (C13)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from trigen.claims import rules, stats
from trigen.claims.context import ClaimContext, sampling_call
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Series
from trigen.compare.measure import cycling_labels, generate, has_likelihood, sample_spec
from trigen.config import DIFFUSION_FAMILIES, FamilyName
from trigen.diffusion.samplers import Sampler, nfe, parse_sampler
from trigen.eval.cost import measure_interleaved
from trigen.eval.fid import centred_interval, fid_replicates
from trigen.eval.likelihood import bits_per_dim, evaluate_nll

WITHIN = 0.10  # C10: "within 10 % of the NFE-250 quality"
TIMING_BATCH = 16  # C13: images per timed sampling call
TIMING_ROUNDS = 5  # C13: interleaved rounds of timed calls (every family once a round)


def steps_for_nfe(sampler: str, target: int) -> int:
    """Sampler steps whose NFE is closest to ``target`` from below (Heun: 2·steps − 1)."""
    if parse_sampler(sampler) is Sampler.HEUN:
        return max((target + 1) // 2, 1)
    return max(target, 1)


# ---------------------------------------------------------------------------------------- C9


def likelihood_claim(ctx: ClaimContext) -> ClaimResult:
    """C9: exact AR bits/dim vs each diffusion family's ELBO on the same test images."""
    claim = CLAIMS["C9"]
    ar = ctx.runs.get(FamilyName.AR)
    diffusion = {  # a flow-matching model has no ELBO to compare
        name: loaded
        for name, loaded in ctx.diffusion_runs().items()
        if has_likelihood(loaded.family)
    }
    if ar is None or not diffusion:
        return ClaimResult.not_run(
            claim, "needs the AR family and a diffusion family trained with an ELBO"
        )
    n = ctx.compare.nll_images
    per_image = {}
    for name, loaded in {FamilyName.AR: ar, **diffusion}.items():
        family = loaded.family
        if name in DIFFUSION_FAMILIES:  # the ELBO's Monte-Carlo timesteps per image
            family = dataclasses.replace(family, nll_num_t=ctx.compare.elbo_timesteps)
        result = evaluate_nll(
            family, ctx.test_data, max_images=n, generator=ctx.generator(ctx.compare.seed)
        )
        per_image[name] = bits_per_dim(np.asarray(result.per_image_nats), family.image_shape)
    measured = [stats.bootstrap("AR bits/dim (exact)", per_image[FamilyName.AR], unit="bits/dim")]
    diffs = []
    for name in diffusion:
        measured.append(
            stats.bootstrap(f"{name.value} bits/dim (ELBO)", per_image[name], unit="bits/dim")
        )
        diffs.append(
            stats.paired_difference(
                f"AR − {name.value} bits/dim",
                per_image[FamilyName.AR],
                per_image[name],
                unit="bits/dim",
            )
        )
    decision = rules.c9_likelihood(diffs)
    return ClaimResult(
        claim,
        decision.verdict,
        decision.why,
        tuple(diffs + measured),
        n_seeds=1,
        n_samples=len(per_image[FamilyName.AR]),
    )


# --------------------------------------------------------------------------------------- C10


@dataclass(frozen=True)
class NfePoint:
    """Quality and time of one (family, sampler, NFE) setting on ``samples`` images."""

    family: str
    sampler: str
    steps: int
    nfe: int
    seconds_per_image: float
    fid: float
    replicates: np.ndarray  # bootstrap replicates of the domain FID

    def to_dict(self) -> dict:
        low, high = centred_interval(self.fid, self.replicates)
        return {
            "family": self.family,
            "sampler": self.sampler,
            "steps": self.steps,
            "nfe": self.nfe,
            "seconds_per_image": self.seconds_per_image,
            "domain_fid": self.fid,
            "domain_fid_low": low,
            "domain_fid_high": high,
        }


def nfe_sweep(ctx: ClaimContext) -> list[NfePoint]:
    """Domain FID (with bootstrap replicates) of every diffusion sampler at every target NFE."""
    ev, cs = ctx.evaluators, ctx.claims
    if ev.domain is None or ev.domain_ref_stats is None:
        return []
    points = []
    for name, loaded in ctx.diffusion_runs().items():
        labels = cycling_labels(cs.nfe_samples, loaded.data.num_classes)
        for sampler in cs.nfe_samplers:
            for target in cs.nfe_targets:
                steps = steps_for_nfe(sampler, target)
                spec = sample_spec(name, ctx.compare, sampler=sampler, steps=steps)
                start = time.perf_counter()
                images = generate(
                    loaded.family,
                    labels,
                    spec,
                    seed=ctx.compare.seed,
                    batch=ctx.compare.sample_batch_size,
                )
                seconds = (time.perf_counter() - start) / len(images)
                feats = ev.domain.features(images)
                value, reps = fid_replicates(feats, ev.domain_ref_stats, resamples=cs.bootstrap)
                points.append(
                    NfePoint(name.value, sampler, steps, nfe(sampler, steps), seconds, value, reps)
                )
                ctx.log(f"  {name.value} {sampler} NFE {points[-1].nfe}: domain FID {value:.1f}")
    return points


def smallest_nfe_within(points: list[NfePoint]) -> Estimate:
    """The smallest NFE whose domain FID is within 10 % of the largest NFE's, with a bootstrap
    interval: each replicate redraws every point's samples and finds its own smallest NFE."""
    points = sorted(points, key=lambda p: p.nfe)
    top = points[-1]

    def smallest(fids: list[float], ref: float) -> float:
        return float(
            next(p.nfe for p, f in zip(points, fids, strict=True) if f <= (1 + WITHIN) * ref)
        )

    value = smallest([p.fid for p in points], top.fid)
    reps = np.array(
        [
            smallest([float(p.replicates[b]) for p in points], float(top.replicates[b]))
            for b in range(top.replicates.size)
        ]
    )
    low, high = stats.percentile_interval(reps)
    return Estimate(
        f"smallest NFE within 10 % of NFE-{top.nfe} ({points[0].family}, {points[0].sampler})",
        value,
        low,
        high,
        "NFE",
        len(points),
        f"bootstrap 95 % ({reps.size} resamples)",
    )


def steps_claim(ctx: ClaimContext, points: list[NfePoint]) -> ClaimResult:
    """C10: the smallest NFE within 10 % of NFE-250 quality, for the best sampler of each family."""
    claim = CLAIMS["C10"]
    if not points:
        return ClaimResult.not_run(claim, "needs a diffusion family and the domain classifier")
    by_setting: dict[tuple[str, str], list[NfePoint]] = {}
    for p in points:
        by_setting.setdefault((p.family, p.sampler), []).append(p)
    per_sampler = {key: smallest_nfe_within(ps) for key, ps in by_setting.items()}
    best: dict[str, Estimate] = {}
    for (family, _), e in per_sampler.items():
        if family not in best or e.value < best[family].value:
            best[family] = e
    decision = rules.combine([rules.c10_steps(e) for e in best.values()])
    series = _nfe_series(points)
    return ClaimResult(
        claim,
        decision.verdict,
        decision.why,
        tuple(best.values()) + tuple(e for e in per_sampler.values() if e not in best.values()),
        n_seeds=1,
        n_samples=ctx.claims.nfe_samples,
        details={"points": [p.to_dict() for p in points], "series": series},
    )


def _nfe_series(points: list[NfePoint]) -> list[dict]:
    lines: dict[str, list[dict]] = {}
    for p in sorted(points, key=lambda p: p.nfe):
        lines.setdefault(f"{p.family} {p.sampler}", []).append(p.to_dict())
    return [
        Series(
            label,
            [d["nfe"] for d in ds],
            [d["domain_fid"] for d in ds],
            "NFE (network evaluations)",
            "domain FID (lower is better)",
            low=[d["domain_fid_low"] for d in ds],
            high=[d["domain_fid_high"] for d in ds],
        ).to_dict()
        for label, ds in lines.items()
    ]


# --------------------------------------------------------------------------------------- C13


def speed_claim(ctx: ClaimContext, points: list[NfePoint]) -> ClaimResult:
    """C13: time per image at the quality every family reaches, diffusion ÷ AR."""
    claim = CLAIMS["C13"]
    ar = ctx.runs.get(FamilyName.AR)
    ev = ctx.evaluators
    if ar is None or not points or ev.domain is None or ev.domain_ref_stats is None:
        return ClaimResult.not_run(claim, "needs AR, a diffusion family and the C10 NFE sweep")
    n = ctx.claims.nfe_samples
    labels = cycling_labels(n, ar.data.num_classes)
    ar_spec = sample_spec(FamilyName.AR, ctx.compare)
    images = generate(ar.family, labels, ar_spec, seed=ctx.compare.seed, batch=TIMING_BATCH)
    ar_fid, _ = fid_replicates(ev.domain.features(images), ev.domain_ref_stats, resamples=1)
    best = {f: min(p.fid for p in points if p.family == f) for f in {p.family for p in points}}
    level = max([ar_fid, *best.values()])  # every family reaches it
    chosen = {}
    for family in best:
        ok = [p for p in points if p.family == family and p.fid <= level]
        chosen[family] = min(ok, key=lambda p: p.seconds_per_image)
    calls = {"ar": sampling_call(ctx, FamilyName.AR, ar_spec, TIMING_BATCH)}
    for family, p in chosen.items():
        spec = sample_spec(FamilyName(family), ctx.compare, sampler=p.sampler, steps=p.steps)
        calls[family] = sampling_call(ctx, FamilyName(family), spec, TIMING_BATCH)
    # timed back to back, round by round: each ratio sees one host speed per round
    timed = measure_interleaved(calls, rounds=TIMING_ROUNDS, device=ctx.device)
    timings = {f: timed.timing(f) for f in calls}
    per_image = {
        f: Estimate(
            f"{f} s/image",
            t.median_s / TIMING_BATCH,
            t.min_s / TIMING_BATCH,
            t.max_s / TIMING_BATCH,
            "s",
            t.repeats,
            f"median, min–max of {t.repeats} calls",
        )
        for f, t in timings.items()
    }
    fastest = min(chosen, key=lambda f: per_image[f].value)
    r = stats.round_ratio(f"{fastest} ÷ AR time per image", timed.ratios(fastest, "ar"))
    decision = rules.c13_speed(r)
    settings = {f: f"{p.sampler}, NFE {p.nfe}, domain FID {p.fid:.1f}" for f, p in chosen.items()}
    settings["ar"] = f"ancestral with KV cache, domain FID {ar_fid:.1f}"
    return ClaimResult(
        claim,
        decision.verdict,
        f"{decision.why} at domain FID ≤ {level:.1f}",
        (r, *per_image.values()),
        n_seeds=1,
        n_samples=n,
        details={
            "level_domain_fid": level,
            "settings": settings,
            "timings": {f: t.to_dict() for f, t in timings.items()},
        },
    )
