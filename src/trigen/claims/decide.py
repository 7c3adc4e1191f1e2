"""Every claim's decision as a pure function of its evidence: the raw values an experiment stored
(per image, per seed, per round, per bootstrap replicate) → the estimates and the verdict.

The experiments call these functions to decide, and ``trigen recheck`` calls the same ones on
the evidence read back from ``results.json``: a verdict that the file cannot reproduce is a bug.
Evidence is plain JSON (lists of floats, dicts of them), stored under each claim's
``details["evidence"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from trigen.claims import rules, stats
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate
from trigen.claims.rules import Decision
from trigen.eval.fid_bootstrap import FidDraws

Evidence = Mapping[str, Any]
Decided = tuple[tuple[Estimate, ...], Decision]


def _per_seed_means(samples: list[list[float]]) -> list[float]:
    return [float(np.nanmean(s)) for s in samples]


def c1(ev: Evidence) -> Decided:
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


def c2(ev: Evidence) -> Decided:
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


def _paired_seed_differences(name: str, a: list[list[float]], b: list[list[float]], level: float):
    """Mean of a − b per seed (samples paired by label and noise), t over seeds."""
    diffs = [float(np.mean(np.subtract(x, y))) for x, y in zip(a, b, strict=True)]
    return stats.seeds_interval(name, diffs, level=level)


def c3(ev: Evidence) -> Decided:
    """adaLN-Zero − each other DiT injection, class accuracy per seed, Bonferroni over them."""
    correct: dict[str, list[list[float]]] = ev["correct"]  # variant → per seed → 0/1 per sample
    zero = "adaln_zero"
    others = [v for v in correct if v != zero and not v.startswith("U-Net")]
    level = stats.bonferroni(len(others))
    diffs = [
        _paired_seed_differences(
            f"adaLN-Zero − {v}, class accuracy", correct[zero], correct[v], level
        )
        for v in others
    ]
    accuracy = [
        stats.proportion(f"{v} class accuracy (all seeds)", np.concatenate(c))
        for v, c in correct.items()
    ]
    decision = rules.c3_conditioning(diffs, second_condition_measured=ev["second_condition"])
    return (*diffs, *accuracy), decision


def _scratch_minus_init(ev: Evidence) -> tuple[Estimate, ...]:
    """scratch − init of the held-out metric per data size, t over seeds (smallest first)."""
    pairs = sorted(ev["pairs"], key=lambda p: p["size"])
    return tuple(
        stats.seeds_interval(
            f"scratch − init {ev['metric']}, {p['size']} images", p["differences"], unit=ev["unit"]
        )
        for p in pairs
    )


def c4(ev: Evidence) -> Decided:
    """ViT-initialised DiT: scratch − init held-out loss at the smallest data size."""
    estimates = _scratch_minus_init(ev)
    return estimates, rules.c4_vit_init(estimates[0])


def c12(ev: Evidence) -> Decided:
    """GPT-2-layout-initialised AR: scratch − init held-out bits/dim at its data size."""
    estimates = _scratch_minus_init(ev)
    return estimates, rules.c12_gpt2_init(estimates[0])


def c5(ev: Evidence) -> Decided:
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


def c6(ev: Evidence) -> Decided:
    """Training-step peak memory at the largest resolution both fit: counted bytes."""
    top = ev["resolution"]
    mem = {
        f: Estimate.exact(f"{f} training-step peak at {top} px", ev["train_peak_mb"][f], "MiB")
        for f in ("dit", "unet")
    }
    return (mem["dit"], mem["unet"]), rules.c6_memory(mem["dit"], mem["unet"])


def c7(ev: Evidence) -> Decided:
    """AR (KV cache) latency exponent in tokens; counted diffusion calls shown beside it."""
    ar = stats.loglog_slope("AR (KV cache) sampling time ∝ tokens^k", ev["tokens"], ev["seconds"])
    calls = ev["diffusion_calls"]
    counted = Estimate.exact(
        f"{ev['diffusion']} network calls per sample at {calls['steps']} steps, "
        f"{calls['pixels'][0]} → {calls['pixels'][-1]} pixels (same by construction)",
        calls["calls"][-1],
    )
    return (ar, counted), rules.c7_serial(ar)


def c8(ev: Evidence) -> Decided:
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


C11_CLAIMED = {"lowest": "ar", "middle": "unet", "highest": "dit"}


def c11(ev: Evidence) -> Decided:
    """The claimed family against each other family at each end of the range (t over seeds,
    Bonferroni over every comparison of the claim)."""
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
            other: _paired_seed_differences(
                f"{family} − {other} class accuracy at {res} px", fams[family], fams[other], level
            )
            for other in fams
            if other != family
        }
        measured += diffs.values()
        decisions.append(rules.best_at(family, f"{res} px ({end})", diffs))
    return tuple(measured), rules.c11_best_use(decisions)


def c9(ev: Evidence) -> Decided:
    """AR − each diffusion family's ELBO in bits/dim on the same images (paired, Bonferroni)."""
    bpd = ev["bits_per_dim"]
    diffusion = [f for f in bpd if f != "ar"]
    level = stats.bonferroni(len(diffusion))
    diffs = [
        stats.paired_difference(
            f"AR − {f} bits/dim", bpd["ar"], bpd[f], unit="bits/dim", level=level
        )
        for f in diffusion
    ]
    means = [stats.bootstrap("AR bits/dim (exact)", bpd["ar"], unit="bits/dim")] + [
        stats.bootstrap(f"{f} bits/dim (ELBO, an upper bound)", bpd[f], unit="bits/dim")
        for f in diffusion
    ]
    return (*diffs, *means), rules.c9_likelihood(diffs)


def c10(ev: Evidence) -> Decided:
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


def c13(ev: Evidence) -> Decided:
    """Fastest diffusion family's time per image ÷ AR's, per interleaved round."""
    seconds = ev["seconds"]  # family → seconds per round
    fastest = ev["fastest"]
    per_round = [f / a for f, a in zip(seconds[fastest], seconds["ar"], strict=True)]
    r = stats.round_ratio(f"{fastest} ÷ AR time per image", per_round)
    per_family = [
        stats.round_median(f"{f} s/call of {ev['batch']} images", s) for f, s in seconds.items()
    ]
    return (r, *per_family), rules.c13_speed(r)


def c14(ev: Evidence) -> Decided:
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


DECIDERS: dict[str, Callable[[Evidence], Decided]] = {
    "C1": c1,
    "C2": c2,
    "C3": c3,
    "C4": c4,
    "C5": c5,
    "C6": c6,
    "C7": c7,
    "C8": c8,
    "C9": c9,
    "C10": c10,
    "C11": c11,
    "C12": c12,
    "C13": c13,
    "C14": c14,
}


def decide(claim_id: str, evidence: Evidence) -> Decided:
    """The estimates and decision of claim ``claim_id`` from its ``evidence``."""
    return DECIDERS[claim_id](evidence)


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python (arrays → lists, numpy scalars → floats), so a verdict
    decided at run time is decided on exactly what ``results.json`` stores."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value


def claim_result(
    claim_id: str,
    evidence: Evidence,
    *,
    n_seeds: int,
    n_samples: int,
    details: dict[str, Any] | None = None,
    note: str = "",
) -> ClaimResult:
    """Decide ``claim_id`` on its evidence (made JSON-native first) and record both."""
    evidence = plain(evidence)
    measured, decision = decide(claim_id, evidence)
    return ClaimResult(
        CLAIMS[claim_id],
        decision.verdict,
        f"{decision.why}{f' ({note})' if note else ''}",
        measured,
        n_seeds=n_seeds,
        n_samples=n_samples,
        details={**(details or {}), "evidence": evidence},
    )
