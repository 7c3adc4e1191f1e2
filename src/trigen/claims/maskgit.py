"""Claim C14: masked parallel decoding (MaskGIT) against raster AR with a KV cache.

Two measurements. Speed at equal quality, on the comparison's trained families: the domain FID
of MaskGIT at each K of ``maskgit_steps`` and of raster AR, the cheapest K that reaches AR's
quality, and both timed per image at one batch. Latency against resolution at fixed K, on
untrained networks of the same presets (weights do not change a pass's cost): seconds per image
of MaskGIT and of AR (KV cache) at each resolution, and each one's log-log exponent in tokens.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, sampling_call
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, latency_series
from trigen.claims.seeded import PerSeed, over_training_seeds, runs_of
from trigen.config import FamilyName
from trigen.eval.cost import measure_interleaved
from trigen.eval.fid_bootstrap import corrected
from trigen.families.base import SampleSpec
from trigen.measure import stats
from trigen.measure.samples import generate, sample_spec
from trigen.measure.scaling import (
    LatencyPoint,
    LatencySetup,
    ar_latency_vs_tokens,
    maskgit_latency_vs_tokens,
)
from trigen.sampling import class_labels

LATENCY = "seconds per image (batch 1)"  # the y axis of both latency lines


@dataclass(frozen=True)
class QualityPoint:
    """Domain FID∞ (with its bias-corrected interval, infinite ends as None) and class accuracy
    of one sampling setting."""

    family: str
    steps: int  # MaskGIT's K; AR's token count
    fid: float
    low: float | None
    high: float | None
    accuracy: float | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _quality(ctx: ClaimContext, name: FamilyName, spec: SampleSpec, steps: int) -> QualityPoint:
    loaded, ev, cs = ctx.runs[name], ctx.evaluators, ctx.claims
    labels = class_labels(loaded.data.num_classes, cs.maskgit_samples)
    images = generate(
        loaded.family, labels, spec, seed=ctx.compare.seed, batch=ctx.compare.sample_batch_size
    )
    instrument = ev.domain_fid(cs.bootstrap)
    fid, low, high = corrected(instrument.draws(ev.domain.features(images), labels.numpy()))
    accuracy = ev.domain.conditional_accuracy(images, labels) if loaded.data.num_classes else None
    ctx.log(f"  {name.value} steps {steps}: domain FID∞ {fid:.1f}")
    low_, high_ = (v if np.isfinite(v) else None for v in (low, high))
    return QualityPoint(name.value, steps, fid, low_, high_, accuracy)


def _latency_sweeps(ctx: ClaimContext) -> tuple[list[LatencyPoint], list[LatencyPoint]]:
    """(MaskGIT at the fixed K, AR with KV cache) seconds per image against tokens."""
    cs = ctx.claims
    data = ctx.test_data
    setup = LatencySetup(
        data.shape[0], data.num_classes, ctx.device, repeats=cs.maskgit_repeats, retries=1
    )
    mg_cfg, ar_cfg = ctx.config_for(FamilyName.MASKGIT), ctx.config_for(FamilyName.AR)
    mg = maskgit_latency_vs_tokens(
        mg_cfg, cs.maskgit_resolutions, steps=cs.maskgit_latency_steps, setup=setup
    )
    ar = ar_latency_vs_tokens(ar_cfg, cs.maskgit_resolutions, kv_cache=True, setup=setup)
    return mg, ar


def _medians(points: list[LatencyPoint]) -> list[float]:
    return [p.timing.median_s for p in points]


def parallel_decoding_claim(ctx: ClaimContext) -> tuple[ClaimResult, ...]:
    """C14 on the families of every training seed (decided per seed and pooled); the latency
    sweep of untrained networks runs once, whatever the seed."""
    latency = functools.cache(lambda: _latency_sweeps(ctx))
    return over_training_seeds(
        ctx, functools.partial(_parallel_decoding_run, latency=latency), (C14,)
    )


def _parallel_decoding_run(
    ctx: ClaimContext, latency: Callable[[], tuple[list[LatencyPoint], list[LatencyPoint]]]
) -> tuple[ClaimResult]:
    """C14: MaskGIT ÷ AR time per image at equal quality, and latency exponents in tokens."""
    ev, cs = ctx.evaluators, ctx.claims
    if FamilyName.MASKGIT not in ctx.runs or FamilyName.AR not in ctx.runs:
        return (C14.not_run("needs the maskgit and AR families"),)
    if ev.domain is None or ev.domain_ref_stats is None:
        return (C14.not_run("needs the domain classifier (a dataset with classes)"),)
    ar_spec = sample_spec(FamilyName.AR, ctx.compare)
    ar_q = _quality(ctx, FamilyName.AR, ar_spec, int(np.prod(ctx.test_data.shape)))
    specs = {k: sample_spec(FamilyName.MASKGIT, ctx.compare, steps=k) for k in cs.maskgit_steps}
    mg_q = [_quality(ctx, FamilyName.MASKGIT, spec, k) for k, spec in specs.items()]
    reached = [q for q in mg_q if q.fid <= ar_q.fid]
    chosen = min(reached, key=lambda q: q.steps) if reached else min(mg_q, key=lambda q: q.fid)
    batch = cs.maskgit_timing_batch
    calls = {
        "ar": sampling_call(ctx, FamilyName.AR, ar_spec, batch),
        "maskgit": sampling_call(ctx, FamilyName.MASKGIT, specs[chosen.steps], batch),
    }  # timed back to back, round by round: the ratio sees one host speed per round
    # enough rounds that the min–max of the per-round ratios covers their median with ≥ 95 %
    rounds = max(cs.maskgit_repeats, stats.rounds_for(stats.LEVEL))
    timed = measure_interleaved(calls, rounds=rounds, device=ctx.device)
    mg_lat, ar_lat = latency()
    fixed_k = cs.maskgit_latency_steps

    quality = f"MaskGIT K={chosen.steps} domain FID {chosen.fid:.1f} vs AR {ar_q.fid:.1f}"
    if not reached:  # the timed K is MaskGIT's best, and still short of AR's quality
        ks = "/".join(str(q.steps) for q in mg_q)
        quality = f"no K of {ks} reached AR's quality; best: {quality}"
    evidence = {
        "seconds": {f: list(timed.seconds[f]) for f in calls},
        "equal_quality": bool(reached),
        "latency": {
            "maskgit": {"tokens": [p.x for p in mg_lat], "seconds": _medians(mg_lat)},
            "ar": {"tokens": [p.x for p in ar_lat], "seconds": _medians(ar_lat)},
        },
    }
    result = C14.result(
        evidence,
        n_seeds=1,
        n_samples=cs.maskgit_samples,
        note=quality,
        details={
            "seconds_per_image": {f: float(np.median(timed.seconds[f])) / batch for f in calls},
            "quality": [ar_q.to_dict(), *(q.to_dict() for q in mg_q)],
            "chosen_steps": chosen.steps,
            "equal_quality": bool(reached),
            "timing_batch": batch,
            "maskgit_latency": [p.to_dict() for p in mg_lat],
            "ar_latency": [p.to_dict() for p in ar_lat],
            "series": [
                latency_series(f"MaskGIT, K = {fixed_k}", mg_lat, "tokens per image", LATENCY),
                latency_series("AR, KV cache", ar_lat, "tokens per image", LATENCY),
            ],
        },
    )
    return (result,)


def decide_c14(ev: Evidence) -> Decided:
    """AR ÷ MaskGIT time per image (rounds), latency exponents in tokens (fits)."""
    seconds = ev["seconds"]
    speed = stats.round_ratio(
        "AR ÷ MaskGIT time per image",
        [a / m for a, m in zip(seconds["ar"], seconds["maskgit"], strict=True)],
    )
    lat = ev["latency"]
    mg = stats.loglog_slope(
        "MaskGIT latency ∝ tokens^k", lat["maskgit"]["tokens"], lat["maskgit"]["seconds"]
    )
    ar = stats.loglog_slope(
        "AR (KV cache) latency ∝ tokens^k", lat["ar"]["tokens"], lat["ar"]["seconds"]
    )
    decision = rules.c14_parallel_decoding(speed, mg, ar, equal_quality=ev["equal_quality"])
    return (speed, mg, ar), decision


def pool_c14(ev: Evidence) -> Decided:
    """Each seed's AR ÷ MaskGIT time per image (median of its rounds), t over the training
    seeds; the latency exponents of the untrained networks (measured once, stored with every
    seed) as they are; equal quality only where every seed reached it."""
    runs = runs_of(ev)
    per_seed = [decide_c14(r)[0] for r in runs]
    speed = stats.seeds_interval(
        "AR ÷ MaskGIT time per image", [speed.value for speed, _, _ in per_seed], unit="×"
    )
    _, mg, ar = per_seed[0]
    equal = all(r["equal_quality"] for r in runs)
    return (speed, mg, ar), rules.c14_parallel_decoding(speed, mg, ar, equal_quality=equal)


EXPERIMENT = Experiment(
    "masked parallel decoding vs raster AR",
    parallel_decoding_claim,
    (
        "bootstrap",
        "maskgit_steps",
        "maskgit_samples",
        "maskgit_timing_batch",
        "maskgit_repeats",
        "maskgit_resolutions",
        "maskgit_latency_steps",
    ),
)
C14 = ClaimEntry(
    "C14",
    EXPERIMENT,
    rules.c14_parallel_decoding,
    decide_c14,
    PerSeed(runs_of, decide_c14, pool_c14),
    timed=True,
)
ENTRIES = (C14,)
