"""Claim C7: AR sampling is serial (time ∝ sequence length); a diffusion step predicts the whole
image at once. Latency of untrained networks of the comparison's presets: AR against tokens
with and without KV cache, diffusion against NFE and batch; network calls counted."""

from __future__ import annotations

import torch

from trigen.claims import rules
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Estimate, latency_series
from trigen.config import FamilyName
from trigen.families.base import SampleSpec
from trigen.measure import stats
from trigen.measure.scaling import (
    LatencySetup,
    ar_latency_vs_tokens,
    diffusion_latency_vs_batch,
    diffusion_latency_vs_nfe,
    fresh_family,
)

CALL_COUNT_STEPS = 10  # sampler steps when counting a diffusion sampler's network calls
LATENCY = "sampling time per call (s)"  # the y axis of every latency line


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


def _serial_calls(ctx: ClaimContext, name: FamilyName, resolutions, setup: LatencySetup) -> dict:
    """Network calls per sample, counted at each resolution (at CALL_COUNT_STEPS steps)."""
    pixels, calls = [], []
    for res in resolutions:
        family = fresh_family(ctx.config_for(name), res, setup)
        labels = torch.zeros(1, dtype=torch.long, device=ctx.device)
        calls.append(count_network_calls(family, labels, SampleSpec(steps=CALL_COUNT_STEPS)))
        pixels.append(setup.channels * res * res)
    return {"steps": CALL_COUNT_STEPS, "pixels": pixels, "calls": calls}


def serial_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C7: AR latency against tokens (with / without KV cache), diffusion against NFE and batch."""
    diffusion = next((f for f in (FamilyName.UNET, FamilyName.DIT) if f in ctx.runs), None)
    if FamilyName.AR not in ctx.runs or diffusion is None:
        return (C7.not_run("needs the AR family and a diffusion family"),)
    cs = ctx.claims
    setup = LatencySetup(*ctx.channels_and_classes(), ctx.device)
    ar_cfg, diff_cfg = ctx.config_for(FamilyName.AR), ctx.config_for(diffusion)
    cached = ar_latency_vs_tokens(ar_cfg, cs.ar_token_resolutions, kv_cache=True, setup=setup)
    uncached = ar_latency_vs_tokens(ar_cfg, cs.ar_token_resolutions, kv_cache=False, setup=setup)
    by_nfe = diffusion_latency_vs_nfe(diff_cfg, cs.latency_nfes, setup=setup)
    by_batch = diffusion_latency_vs_batch(diff_cfg, cs.latency_batches, setup=setup)

    def fit(name: str, pts) -> Estimate:
        return stats.loglog_slope(name, [p.x for p in pts], [p.timing.median_s for p in pts])

    ends = (min(cs.ar_token_resolutions), max(cs.ar_token_resolutions))
    evidence = {
        "tokens": [p.x for p in cached],
        "seconds": [p.timing.median_s for p in cached],
        "diffusion": diffusion.value,
        "diffusion_calls": _serial_calls(ctx, diffusion, ends, setup),
    }
    shown = (
        fit("AR (no cache) sampling time ∝ tokens^k", uncached),
        fit(f"{diffusion.value} sampling time ∝ NFE^k", by_nfe),
        fit(f"{diffusion.value} sampling time ∝ batch^k", by_batch),
    )
    series = [
        latency_series("AR, KV cache", cached, "tokens per image", LATENCY),
        latency_series("AR, no cache", uncached, "tokens per image", LATENCY),
        latency_series(f"{diffusion.value} vs NFE", by_nfe, "NFE or tokens", LATENCY),
    ]
    flagged = sum(p.timing.flagged for p in (*cached, *uncached, *by_nfe, *by_batch))
    result = C7.result(
        evidence,
        n_seeds=1,
        n_samples=len(cached),
        details={
            "fits": [e.to_dict() for e in shown],
            "ar_calls": _serial_calls(ctx, FamilyName.AR, ends, setup),
            "ar_kv_cache": [p.to_dict() for p in cached],
            "ar_no_cache": [p.to_dict() for p in uncached],
            "diffusion_vs_nfe": [p.to_dict() for p in by_nfe],
            "diffusion_vs_batch": [p.to_dict() for p in by_batch],
            "flagged_points": flagged,
            "series": series,
        },
    )
    return (result,)


def decide_c7(ev: Evidence) -> Decided:
    """AR (KV cache) latency exponent in tokens; counted diffusion calls shown beside it."""
    ar = stats.loglog_slope("AR (KV cache) sampling time ∝ tokens^k", ev["tokens"], ev["seconds"])
    calls = ev["diffusion_calls"]
    counted = Estimate.exact(
        f"{ev['diffusion']} network calls per sample at {calls['steps']} steps, "
        f"{calls['pixels'][0]} → {calls['pixels'][-1]} pixels (same by construction)",
        calls["calls"][-1],
    )
    return (ar, counted), rules.c7_serial(ar)


EXPERIMENT = Experiment(
    "serial AR vs parallel diffusion",
    serial_claim,
    ("ar_token_resolutions", "latency_nfes", "latency_batches"),
)
C7 = ClaimEntry("C7", EXPERIMENT, rules.c7_serial, decide_c7, timed=True)
ENTRIES = (C7,)
