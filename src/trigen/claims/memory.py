"""Claim C6: at high resolution DiT is more parallel and can need less memory than a U-Net.
Training- and sampling-step peak tensor memory and latency of untrained networks of the
comparison's presets, 16 → 256 px, each point on its own network, with log-log slopes."""

from __future__ import annotations

from trigen.claims import rules
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Estimate, Series
from trigen.config import FamilyName
from trigen.measure import stats
from trigen.measure.scaling import ResolutionPoint, probed, resolution_sweep


def memory_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C6: training/sampling peak tensor memory and latency of U-Net and DiT, 16 → 256 px."""
    if FamilyName.UNET not in ctx.runs or FamilyName.DIT not in ctx.runs:
        return (C6.not_run("needs the U-Net and DiT families"),)
    channels, classes = ctx.channels_and_classes()
    # every family of the comparison whose cost can be probed rides along: this sweep is also
    # the report's resolution table (a token model capped at 64×64 tokens)
    swept = [f for f, run in ctx.runs.items() if probed(run.family)]
    configs = {f.value: ctx.config_for(f) for f in swept}
    points = resolution_sweep(
        configs,
        ctx.claims.memory_resolutions,
        channels=channels,
        num_classes=classes,
        batch=ctx.claims.memory_batch,
        device=ctx.device,
    )
    ok = [p for p in points if p.skipped is None]
    both = sorted(
        {p.resolution for p in ok if p.family == "unet"}
        & {p.resolution for p in ok if p.family == "dit"}
    )
    if not both:
        return (C6.not_run("no resolution where both families could be measured"),)
    top = both[-1]
    at_top = {p.family: p for p in ok if p.resolution == top}
    evidence = {
        "resolution": top,
        "train_peak_mb": {f: at_top[f].train_peak_mb for f in ("dit", "unet")},
    }
    result = C6.result(
        evidence,
        n_seeds=1,
        n_samples=ctx.claims.memory_batch,
        details={
            "sampling_peak_mb": {f: at_top[f].sample_peak_mb for f in ("dit", "unet")},
            "fits": [e.to_dict() for e in _slopes(ok)],
            "points": [p.to_dict() for p in points],
            "series": _memory_series(ok),
            "arch": {p.family: p.arch for p in ok if p.resolution == top},
        },
    )
    return (result,)


def _slopes(points: list[ResolutionPoint]) -> list[Estimate]:
    out = []
    for family in ("dit", "unet"):
        ps = sorted((p for p in points if p.family == family), key=lambda p: p.resolution)
        if len(ps) < 2:
            continue
        res = [p.resolution for p in ps]
        for key, label in (
            ("train_peak_mb", "training memory"),
            ("sample_peak_mb", "sampling memory"),
        ):
            out.append(
                stats.loglog_slope(
                    f"{family} {label} ∝ resolution^k", res, [getattr(p, key) for p in ps]
                )
            )
        out.append(
            stats.loglog_slope(
                f"{family} training-step time ∝ resolution^k",
                res,
                [p.train_step.median_s for p in ps],
            )
        )
    return out


def _memory_series(points: list[ResolutionPoint]) -> list[dict]:
    series = []
    for family in ("unet", "dit"):
        ps = sorted((p for p in points if p.family == family), key=lambda p: p.resolution)
        for key, what in (("train_peak_mb", "training step"), ("sample_peak_mb", "sampling step")):
            series.append(
                Series(
                    f"{family} {what}",
                    [p.resolution for p in ps],
                    [getattr(p, key) for p in ps],
                    "resolution (px)",
                    "peak tensor memory (MiB)",
                ).to_dict()
            )
    return series


def decide_c6(ev: Evidence) -> Decided:
    """Training-step peak memory at the largest resolution both fit: counted bytes."""
    top = ev["resolution"]
    mem = {
        f: Estimate.exact(f"{f} training-step peak at {top} px", ev["train_peak_mb"][f], "MiB")
        for f in ("dit", "unet")
    }
    return (mem["dit"], mem["unet"]), rules.c6_memory(mem["dit"], mem["unet"])


EXPERIMENT = Experiment(
    "memory and latency vs resolution", memory_claim, ("memory_resolutions", "memory_batch")
)
C6 = ClaimEntry("C6", EXPERIMENT, rules.c6_memory, decide_c6)
ENTRIES = (C6,)
