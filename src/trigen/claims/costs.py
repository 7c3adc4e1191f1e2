"""Claims about cost, measured on untrained networks of the comparison's presets: memory and
latency against resolution (C6), serial steps and latency against sequence length (C7)."""

from __future__ import annotations

import dataclasses

import torch

from trigen.build import DataSpec, build_family
from trigen.claims import stats
from trigen.claims.context import ClaimContext
from trigen.claims.decide import claim_result
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Series
from trigen.config import DIFFUSION_FAMILIES, FamilyName
from trigen.families.base import SampleSpec
from trigen.measure.scaling import (
    ResolutionPoint,
    ar_latency_vs_tokens,
    diffusion_latency_vs_batch,
    diffusion_latency_vs_nfe,
    resolution_sweep,
)

MIB = 2**20
CALL_COUNT_STEPS = 10  # sampler steps when counting a diffusion sampler's network calls


def _spec(ctx: ClaimContext) -> tuple[int, int]:
    c = ctx.test_data.shape[0]
    return c, ctx.test_data.num_classes


# --------------------------------------------------------------------------------------- C6


def memory_claim(ctx: ClaimContext) -> ClaimResult:
    """C6: training/sampling peak tensor memory and latency of U-Net and DiT, 16 → 256 px."""
    claim = CLAIMS["C6"]
    if FamilyName.UNET not in ctx.runs or FamilyName.DIT not in ctx.runs:
        return ClaimResult.not_run(claim, "needs the U-Net and DiT families")
    channels, classes = _spec(ctx)
    # every family of the comparison rides along: this sweep is also the report's resolution
    # table (the AR model capped at 64×64 tokens)
    token_models = (FamilyName.AR, FamilyName.PIXELCNN, FamilyName.MASKGIT)
    swept = [f for f in ctx.runs if f in (*DIFFUSION_FAMILIES, *token_models)]
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
        return ClaimResult.not_run(claim, "no resolution where both families could be measured")
    top = both[-1]
    at_top = {p.family: p for p in ok if p.resolution == top}
    evidence = {
        "resolution": top,
        "train_peak_mb": {f: at_top[f].train_peak_mb for f in ("dit", "unet")},
    }
    return claim_result(
        "C6",
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


# --------------------------------------------------------------------------------------- C7


def count_network_calls(family, labels: torch.Tensor, spec: SampleSpec) -> int:
    """How many times sampling calls the network, one after the other (a forward hook counts)."""
    calls = 0

    def hook(*_) -> None:
        nonlocal calls
        calls += 1

    handle = family.net.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            family.sample(labels, spec, torch.Generator(labels.device).manual_seed(0))
    finally:
        handle.remove()
    return calls


def _serial_calls(ctx: ClaimContext, name: FamilyName, resolutions) -> dict:
    """Network calls per sample, counted at each resolution (at CALL_COUNT_STEPS steps)."""
    channels, classes = _spec(ctx)
    pixels, calls = [], []
    for res in resolutions:
        cfg = dataclasses.replace(ctx.config_for(name), resolution=res)
        family = build_family(cfg, DataSpec((channels, res, res), classes), ctx.device)
        family.net.eval()
        labels = torch.zeros(1, dtype=torch.long, device=ctx.device)
        calls.append(count_network_calls(family, labels, SampleSpec(steps=CALL_COUNT_STEPS)))
        pixels.append(channels * res * res)
    return {"steps": CALL_COUNT_STEPS, "pixels": pixels, "calls": calls}


def serial_claim(ctx: ClaimContext) -> ClaimResult:
    """C7: AR latency against tokens (with / without KV cache), diffusion against NFE and batch."""
    claim = CLAIMS["C7"]
    diffusion = next((f for f in (FamilyName.UNET, FamilyName.DIT) if f in ctx.runs), None)
    if FamilyName.AR not in ctx.runs or diffusion is None:
        return ClaimResult.not_run(claim, "needs the AR family and a diffusion family")
    channels, classes = _spec(ctx)
    cs = ctx.claims
    common = {"channels": channels, "num_classes": classes, "device": ctx.device}
    ar_cfg, diff_cfg = ctx.config_for(FamilyName.AR), ctx.config_for(diffusion)
    cached = ar_latency_vs_tokens(ar_cfg, cs.ar_token_resolutions, kv_cache=True, **common)
    uncached = ar_latency_vs_tokens(ar_cfg, cs.ar_token_resolutions, kv_cache=False, **common)
    by_nfe = diffusion_latency_vs_nfe(diff_cfg, cs.latency_nfes, **common)
    by_batch = diffusion_latency_vs_batch(diff_cfg, cs.latency_batches, **common)

    def fit(name: str, pts) -> Estimate:
        return stats.loglog_slope(name, [p.x for p in pts], [p.timing.median_s for p in pts])

    ends = (min(cs.ar_token_resolutions), max(cs.ar_token_resolutions))
    evidence = {
        "tokens": [p.x for p in cached],
        "seconds": [p.timing.median_s for p in cached],
        "diffusion": diffusion.value,
        "diffusion_calls": _serial_calls(ctx, diffusion, ends),
    }
    shown = (
        fit("AR (no cache) sampling time ∝ tokens^k", uncached),
        fit(f"{diffusion.value} sampling time ∝ NFE^k", by_nfe),
        fit(f"{diffusion.value} sampling time ∝ batch^k", by_batch),
    )
    series = [
        _latency_series("AR, KV cache", cached, "tokens per image"),
        _latency_series("AR, no cache", uncached, "tokens per image"),
        _latency_series(f"{diffusion.value} vs NFE", by_nfe, "NFE or tokens"),
    ]
    flagged = sum(p.timing.flagged for p in (*cached, *uncached, *by_nfe, *by_batch))
    return claim_result(
        "C7",
        evidence,
        n_seeds=1,
        n_samples=len(cached),
        details={
            "fits": [e.to_dict() for e in shown],
            "ar_calls": _serial_calls(ctx, FamilyName.AR, ends),
            "ar_kv_cache": [p.to_dict() for p in cached],
            "ar_no_cache": [p.to_dict() for p in uncached],
            "diffusion_vs_nfe": [p.to_dict() for p in by_nfe],
            "diffusion_vs_batch": [p.to_dict() for p in by_batch],
            "flagged_points": flagged,
            "series": series,
        },
    )


def _latency_series(label: str, points, xlabel: str) -> dict:
    return Series(
        label,
        [p.x for p in points],
        [p.timing.median_s for p in points],
        xlabel,
        "sampling time per call (s)",
        low=[p.timing.min_s for p in points],
        high=[p.timing.max_s for p in points],
    ).to_dict()
