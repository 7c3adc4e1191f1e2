"""Claims C10 (diffusion needs tens to hundreds of steps) and C13 (diffusion's parallel steps
make it clearly faster than AR), from one sweep: domain FID∞ and time per image of every
diffusion sampler at every target NFE, on the comparison's own trained families."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, sampling_call
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Series
from trigen.claims.seeded import PerSeed, over_training_seeds, runs_of
from trigen.config import FamilyName
from trigen.diffusion.samplers import Sampler, nfe, parse_sampler
from trigen.eval.cost import measure_interleaved
from trigen.eval.fid_bootstrap import FidDraws, corrected
from trigen.measure import stats
from trigen.measure.samples import generate, sample_spec
from trigen.sampling import class_labels

PRIMARY_SAMPLER = "dpmpp_2m"  # C10's pre-stated sampler (primary_sampler)
TIMING_BATCH = 16  # C13: images per timed sampling call
# C13: interleaved rounds of timed calls (every family once a round): the fewest whose min–max
# covers the median ratio with ≥ 95 % (6 rounds: 96.9 %)
TIMING_ROUNDS = stats.rounds_for(stats.LEVEL)


def steps_for_nfe(sampler: str, target: int) -> int:
    """Sampler steps whose NFE is closest to ``target`` from below (Heun: 2·steps − 1)."""
    if parse_sampler(sampler) is Sampler.HEUN:
        return max((target + 1) // 2, 1)
    return max(target, 1)


# --------------------------------------------------------------------------------------- C10


@dataclass(frozen=True)
class NfePoint:
    """Quality and time of one (family, sampler, NFE) setting on ``draws.samples`` images."""

    family: str
    sampler: str
    steps: int
    nfe: int
    seconds_per_image: float
    draws: FidDraws  # the plug-in domain FID and its paired bootstrap replicates
    real: FidDraws | None  # the same for as many real images: the floor, in the same space

    @property
    def fid(self) -> float:
        """FID∞, bias-corrected: what C13 compares families on."""
        return corrected(self.draws)[0]

    def to_dict(self) -> dict:
        value, low, high = corrected(self.draws)
        return {
            "family": self.family,
            "sampler": self.sampler,
            "steps": self.steps,
            "nfe": self.nfe,
            "seconds_per_image": self.seconds_per_image,
            "domain_fid_plug_in": self.draws.value,
            # real images at the same n, same axes: the plug-in's floor and its FID∞ (≈ 0)
            "real_plug_in": None if self.real is None else self.real.value,
            "real_fid_inf": None if self.real is None else corrected(self.real)[0],
            "domain_fid": value,  # FID∞
            "domain_fid_low": low if np.isfinite(low) else None,
            "domain_fid_high": high if np.isfinite(high) else None,
            "samples": self.draws.samples,
        }


def nfe_sweep(ctx: ClaimContext) -> list[NfePoint]:
    """Domain FID∞ (paired bootstrap draws) of every diffusion sampler at every target NFE; every
    point samples the same labels from the same seed, so its draws pair with the others'."""
    ev, cs = ctx.evaluators, ctx.claims
    instrument = ev.domain_fid(cs.bootstrap)
    if ev.domain is None or instrument is None:
        return []
    points = []
    for name, loaded in ctx.diffusion_runs().items():
        labels = class_labels(loaded.data.num_classes, cs.nfe_samples)
        strata = labels.numpy()  # balanced requests: resampled within each class
        real = ev.real_features(strata)
        floor = None if real is None else instrument.draws(real, strata)
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
                draws = instrument.draws(ev.domain.features(images), strata)
                p = NfePoint(name.value, sampler, steps, nfe(sampler, steps), seconds, draws, floor)
                points.append(p)
                ctx.log(f"  {name.value} {sampler} NFE {p.nfe}: domain FID∞ {p.fid:.2f}")
    return points


def primary_sampler(samplers: tuple[str, ...]) -> str:
    """C10's pre-stated sampler: DPM-Solver++(2M), the few-step solver (the strongest test of
    "needs tens of steps"), else the first one swept."""
    return PRIMARY_SAMPLER if PRIMARY_SAMPLER in samplers else samplers[0]


def steps_claim(ctx: ClaimContext, points: list[NfePoint]) -> ClaimResult:
    """C10: per family, FID∞ at the largest NFE below 10 ÷ at the most NFE, pre-stated sampler."""
    if not points:
        return C10.not_run("needs a diffusion family and the domain classifier")
    sampler = primary_sampler(ctx.claims.nfe_samplers)
    primary = {}
    for family in dict.fromkeys(p.family for p in points):
        ps = sorted(
            (p for p in points if p.family == family and p.sampler == sampler), key=lambda p: p.nfe
        )
        few = [p for p in ps if p.nfe < rules.TENS_OF_STEPS]
        if not few or ps[-1].nfe < rules.TENS_OF_STEPS:
            continue
        primary[family] = {
            "sampler": sampler,
            "few": {"nfe": few[-1].nfe, "fid": few[-1].draws.to_dict()},
            "many": {"nfe": ps[-1].nfe, "fid": ps[-1].draws.to_dict()},
        }
    if not primary:
        return C10.not_run(f"{sampler} was not swept below and above NFE 10")
    return C10.result(
        {"primary": primary},
        n_seeds=1,
        n_samples=ctx.claims.nfe_samples,
        details={"points": [p.to_dict() for p in points], "series": _nfe_series(points)},
        note=f"pre-stated sampler {sampler}; the others are shown, not tested",
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
            "domain FID∞ (bias-corrected; lower is better)",
            low=[
                d["domain_fid_low"] if d["domain_fid_low"] is not None else d["domain_fid"]
                for d in ds
            ],
            high=[
                d["domain_fid_high"] if d["domain_fid_high"] is not None else d["domain_fid"]
                for d in ds
            ],
        ).to_dict()
        for label, ds in lines.items()
    ]


# --------------------------------------------------------------------------------------- C13


def speed_claim(ctx: ClaimContext, points: list[NfePoint]) -> ClaimResult:
    """C13: time per image at the quality every family reaches (domain FID∞), diffusion ÷ AR."""
    ar = ctx.runs.get(FamilyName.AR)
    ev = ctx.evaluators
    instrument = ev.domain_fid(ctx.claims.bootstrap)
    if ar is None or not points or ev.domain is None or instrument is None:
        return C13.not_run("needs AR, a diffusion family and the C10 NFE sweep")
    n = ctx.claims.nfe_samples
    labels = class_labels(ar.data.num_classes, n)
    ar_spec = sample_spec(FamilyName.AR, ctx.compare)
    images = generate(ar.family, labels, ar_spec, seed=ctx.compare.seed, batch=TIMING_BATCH)
    ar_fid = corrected(instrument.draws(ev.domain.features(images), labels.numpy()))[0]
    families = dict.fromkeys(p.family for p in points)  # in sweep order, not a set's
    best = {f: min(p.fid for p in points if p.family == f) for f in families}
    level = max([ar_fid, *best.values()])  # every family reaches it (point values: a setting)
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
    fastest = min(chosen, key=lambda f: float(np.median(timed.seconds[f])))
    settings = {f: f"{p.sampler}, NFE {p.nfe}, domain FID∞ {p.fid:.1f}" for f, p in chosen.items()}
    settings["ar"] = f"ancestral with KV cache, domain FID∞ {ar_fid:.1f}"
    evidence = {
        "seconds": {f: list(timed.seconds[f]) for f in calls},
        "fastest": fastest,
        "batch": TIMING_BATCH,
    }
    return C13.result(
        evidence,
        n_seeds=1,
        n_samples=n,
        details={"level_domain_fid": level, "settings": settings},
        note=f"at domain FID∞ ≤ {level:.1f}",
    )


def nfe_claims(ctx: ClaimContext) -> tuple[ClaimResult, ...]:
    """C10 and C13 from one NFE sweep per training seed: decided per seed and pooled."""
    return over_training_seeds(ctx, _nfe_run, (C10, C13))


def _nfe_run(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C10 and C13 from one NFE sweep."""
    points = nfe_sweep(ctx)
    return steps_claim(ctx, points), speed_claim(ctx, points)


def decide_c10(ev: Evidence) -> Decided:
    """Per family, with the pre-stated sampler: FID∞ at the largest NFE below 10 ÷ at the most
    NFE, Bonferroni over the families."""
    primary = ev["primary"]  # family → {"sampler", "few", "many"}
    level = stats.bonferroni(len(primary))
    ratios = []
    for family, p in primary.items():
        few, many = FidDraws.from_dict(p["few"]["fid"]), FidDraws.from_dict(p["many"]["fid"])
        name = f"{family} {p['sampler']}: FID∞ at NFE {p['few']['nfe']} ÷ at NFE {p['many']['nfe']}"
        ratios.append(stats.fid_ratio(name, few, many, level))
    return tuple(ratios), rules.c10_steps(ratios)


def decide_c13(ev: Evidence) -> Decided:
    """Fastest diffusion family's time per image ÷ AR's, per interleaved round."""
    seconds = ev["seconds"]  # family → seconds per round
    fastest = ev["fastest"]
    per_round = [f / a for f, a in zip(seconds[fastest], seconds["ar"], strict=True)]
    r = stats.round_ratio(f"{fastest} ÷ AR time per image", per_round)
    per_family = [
        stats.round_median(f"{f} s/call of {ev['batch']} images", s) for f, s in seconds.items()
    ]
    return (r, *per_family), rules.c13_speed(r)


def pool_c10(ev: Evidence) -> Decided:
    """Per family, each seed's FID∞ ratio (few ÷ most NFE, pre-stated sampler), t over the
    training seeds (Bonferroni over the families present in every seed)."""
    runs = [r["primary"] for r in runs_of(ev)]
    families = [f for f in runs[0] if all(f in r for r in runs)]
    level = stats.bonferroni(len(families))
    ratios = []
    for family in families:
        per_seed = [_ratio(family, r[family]).value for r in runs]
        p = runs[0][family]
        name = f"{family} {p['sampler']}: FID∞ at NFE {p['few']['nfe']} ÷ at NFE {p['many']['nfe']}"
        ratios.append(stats.seeds_interval(name, per_seed, unit="×", level=level))
    return tuple(ratios), rules.c10_steps(ratios)


def _ratio(family: str, p: dict, level: float = stats.LEVEL):
    few, many = FidDraws.from_dict(p["few"]["fid"]), FidDraws.from_dict(p["many"]["fid"])
    return stats.fid_ratio(family, few, many, level)


def pool_c13(ev: Evidence) -> Decided:
    """Each seed's fastest diffusion family's time ÷ AR's (median of its rounds), t over the
    training seeds."""
    runs = runs_of(ev)
    per_seed = [decide_c13(r)[0][0].value for r in runs]
    fastest = "/".join(dict.fromkeys(r["fastest"] for r in runs))
    r = stats.seeds_interval(f"{fastest} ÷ AR time per image", per_seed, unit="×")
    return (r,), rules.c13_speed(r)


EXPERIMENT = Experiment(
    "quality vs NFE per sampler",
    nfe_claims,
    ("bootstrap", "nfe_samples", "nfe_samplers", "nfe_targets"),
)
C10 = ClaimEntry(
    "C10", EXPERIMENT, rules.c10_steps, decide_c10, PerSeed(runs_of, decide_c10, pool_c10)
)
C13 = ClaimEntry(
    "C13",
    EXPERIMENT,
    rules.c13_speed,
    decide_c13,
    PerSeed(runs_of, decide_c13, pool_c13),
    timed=True,
)
ENTRIES = (C10, C13)
