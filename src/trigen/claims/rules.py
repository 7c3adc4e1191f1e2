"""The rules that turn measured intervals into verdicts, one function per claim.

Each rule reads :class:`Estimate` values only, so a unit test can feed it synthetic numbers on
either side of its boundary and watch the verdict flip. The wording of each rule is in
``ledger.CLAIMS[id].rule``; the registry (``registry.ENTRIES[id]``) pairs the two with the
decider that feeds the rule its estimates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from trigen.claims.ledger import Estimate, Verdict

LEVEL = 0.95  # every verdict rests on intervals that hold with at least this probability
LINEAR_EXPONENT = (0.7, 1.3)  # C7: an exponent in this band is "time ∝ length"
TENS_OF_STEPS = 10  # C10: "tens to hundreds" starts here
WITHIN = 1.10  # C10: "within 10 % of the most-steps quality", as a FID∞ ratio
PARALLEL_SPEEDUP = 10.0  # C14: "≥ 10× faster per image"
FLAT_EXPONENT = 0.5  # C14: latency "stays flat" = grows slower than √tokens
# C15: "as good as the specialised injections" = within this share of the gap between chance
# and the real-data ceiling (normalised adherence, where chance is 0 and the ceiling 1)
SAME_ADHERENCE = 0.10


class Decision(NamedTuple):
    verdict: Verdict
    why: str


def _show(e: Estimate) -> str:
    unit = f" {e.unit}" if e.unit and e.unit != "×" else ("×" if e.unit == "×" else "")
    if e.low == e.high:
        return f"{e.name} = {e.value:.4g}{unit}"
    if not e.determined:
        return f"{e.name} = {e.value:.4g}{unit} (no interval: {e.method})"
    low = f"{e.low:.4g}" if math.isfinite(e.low) else "−∞"
    high = f"{e.high:.4g}" if math.isfinite(e.high) else "∞"
    return f"{e.name} = {e.value:.4g}{unit} [{low}, {high}]"


def _undecidable(e: Estimate, level: float) -> Decision | None:
    """Inconclusive when ``e`` has no interval or one that covers less than ``level``."""
    if not e.determined:
        return Decision(Verdict.INCONCLUSIVE, _show(e))
    if e.level < level - 1e-9:
        return Decision(
            Verdict.INCONCLUSIVE, f"{_show(e)} covers only {e.level:.1%} (< {level:.0%})"
        )
    return None


def side(
    e: Estimate, claimed: Literal["above", "below"], bound: float = 0.0, level: float = LEVEL
) -> Decision:
    """Supported when the whole interval is on the claimed side of ``bound``, refuted when the
    whole interval is on the other side, inconclusive when it straddles (or touches) it, has no
    interval, or covers less than ``level``."""
    if (undecided := _undecidable(e, level)) is not None:
        return undecided
    above, below = e.low > bound, e.high < bound
    if (claimed == "above" and above) or (claimed == "below" and below):
        return Decision(Verdict.SUPPORTED, f"{_show(e)} lies {claimed} {bound:g}")
    if (claimed == "above" and below) or (claimed == "below" and above):
        other = "below" if claimed == "above" else "above"
        return Decision(Verdict.REFUTED, f"{_show(e)} lies {other} {bound:g}")
    return Decision(Verdict.INCONCLUSIVE, f"{_show(e)} straddles {bound:g}")


def c1_long_range(consistency_diff: Estimate) -> Decision:
    """DiT − U-Net mirror consistency: above 0 supports."""
    return side(consistency_diff, "above")


def c2_fine_detail(low_noise_mse_diff: Estimate) -> Decision:
    """DiT − U-Net low-noise denoising MSE: below 0 supports."""
    return side(low_noise_mse_diff, "below")


def c3_conditioning(adaln_zero_minus_each: Sequence[Estimate]) -> Decision:
    """adaLN-Zero class accuracy − each other DiT injection (paired, Bonferroni over them): above
    0 for every one supports "adaLN-Zero is the best injection of the class label"; below 0 for
    one refutes it. Conditions beyond the class label are C15's."""
    if not adaln_zero_minus_each:
        return Decision(Verdict.NOT_RUN, "no other injection to compare with")
    return combine([side(e, "above", level=LEVEL) for e in adaln_zero_minus_each])


def c4_vit_init(scratch_minus_init_smallest: Estimate) -> Decision:
    """Scratch − ViT-init held-out loss at the smallest data size: above 0 supports."""
    return side(scratch_minus_init_smallest, "above")


def c5_scaling(fid_slope: Estimate) -> Decision:
    """Slope of log FID on log GFLOPs: below 0 supports."""
    return side(fid_slope, "below")


def c6_memory(dit_bytes: Estimate, unet_bytes: Estimate) -> Decision:
    """Training-step peak memory at the largest resolution: DiT below the U-Net supports."""
    if dit_bytes.high < unet_bytes.low:
        return Decision(Verdict.SUPPORTED, f"{_show(dit_bytes)} < {_show(unet_bytes)}")
    if dit_bytes.low > unet_bytes.high:
        return Decision(Verdict.REFUTED, f"{_show(dit_bytes)} > {_show(unet_bytes)}")
    return Decision(Verdict.INCONCLUSIVE, f"{_show(dit_bytes)} ≈ {_show(unet_bytes)}")


def c7_serial(ar_exponent: Estimate) -> Decision:
    """AR (KV cache) latency exponent in tokens inside the linear band supports, outside it
    refutes. (That a diffusion sampler's serial steps do not grow with the pixels holds by
    construction, the step count being the user's choice: it is counted and shown, not tested.)"""
    if (undecided := _undecidable(ar_exponent, LEVEL)) is not None:
        return undecided
    lo, hi = LINEAR_EXPONENT
    if ar_exponent.high < lo or ar_exponent.low > hi:
        return Decision(Verdict.REFUTED, f"{_show(ar_exponent)} is outside [{lo}, {hi}]")
    if lo < ar_exponent.low and ar_exponent.high < hi:
        return Decision(Verdict.SUPPORTED, f"{_show(ar_exponent)} within [{lo}, {hi}]")
    return Decision(Verdict.INCONCLUSIVE, f"{_show(ar_exponent)} straddles [{lo}, {hi}]")


def c8_resolution(gap_change: Estimate) -> Decision:
    """(AR − diffusion accuracy) at the lowest minus at the highest resolution: above 0."""
    return side(gap_change, "above")


def c9_likelihood(ar_minus_diffusion: Sequence[Estimate]) -> Decision:
    """AR − diffusion bits/dim for every diffusion family (intervals at a Bonferroni share of
    95 %): all below 0 supports, one above 0 refutes. The diffusion side is an ELBO, an upper
    bound on its NLL, so "supported" says AR's exact NLL beats the bound, not the true NLL."""
    if not ar_minus_diffusion:
        return Decision(Verdict.NOT_RUN, "no diffusion family to compare with")
    decisions = [side(e, "below", level=LEVEL) for e in ar_minus_diffusion]
    return combine(decisions)


def c10_steps(few_over_many: Sequence[Estimate]) -> Decision:
    """Per diffusion family, with its pre-stated sampler: FID∞ at the largest NFE below 10 ÷
    FID∞ at the most NFE (intervals at a Bonferroni share of 95 %). Above 1.1 for every family
    (fewer than 10 steps fall more than 10 % short) supports; below 1.1 for one refutes."""
    if not few_over_many:
        return Decision(Verdict.NOT_RUN, "no diffusion family measured below 10 NFE")
    return combine([side(e, "above", WITHIN) for e in few_over_many])


def clear_winner(scores: Mapping[str, Estimate]) -> str | None:
    """The family whose interval lies above every other family's, or None (a tie)."""
    for name, e in scores.items():
        if all(e.low > other.high for o, other in scores.items() if o != name):
            return name
    return None


def best_at(family: str, at: str, differences: Mapping[str, Estimate]) -> Decision:
    """``family`` − each other family at one resolution (paired, Bonferroni): above 0 against
    every other supports "``family`` is best there"; below 0 against one refutes it (a clear
    loser is seen even when the others tie among themselves)."""
    if not differences:
        return Decision(Verdict.NOT_RUN, f"{family} has no rival at {at}")
    decisions = [side(e, "above", level=LEVEL) for e in differences.values()]
    verdict = combine(decisions).verdict
    return Decision(verdict, f"{at}: " + "; ".join(d.why for d in decisions))


def c11_best_use(ends: Sequence[Decision]) -> Decision:
    """The claimed family best at each end of the measured range (AR at the lowest resolution,
    the U-Net at the middle one, DiT at the highest), from :func:`best_at`: all supported
    supports, one refuted refutes."""
    return combine(list(ends))


def c12_gpt2_init(scratch_minus_init: Estimate) -> Decision:
    """Scratch − GPT-2-init held-out bits/dim: above 0 supports."""
    return side(scratch_minus_init, "above")


def c13_speed(diffusion_over_ar_time: Estimate) -> Decision:
    """Fastest diffusion family's time per image at equal quality ÷ AR's: below 1 supports."""
    return side(diffusion_over_ar_time, "below", 1.0, LEVEL)


def c14_parallel_decoding(
    ar_over_maskgit_time: Estimate,
    maskgit_exponent: Estimate,
    ar_exponent: Estimate,
    *,
    equal_quality: bool,
) -> Decision:
    """The primary test, stated before measuring: AR ÷ MaskGIT time per image at equal quality
    above 10 supports, below 10 refutes. The latency exponents (MaskGIT's below 0.5, AR's above
    0.7) are secondary: on the wrong side they hold back a "supported", never refute alone. A
    speed-up measured where MaskGIT did not reach AR's quality supports nothing."""
    speed = side(ar_over_maskgit_time, "above", PARALLEL_SPEEDUP)
    if not equal_quality and speed.verdict is Verdict.SUPPORTED:
        speed = Decision(Verdict.INCONCLUSIVE, f"{speed.why}, but below AR's quality")
    flat = side(maskgit_exponent, "below", FLAT_EXPONENT)
    grows = side(ar_exponent, "above", LINEAR_EXPONENT[0])
    why = "; ".join(d.why for d in (speed, flat, grows))
    if speed.verdict is Verdict.SUPPORTED and {flat.verdict, grows.verdict} != {Verdict.SUPPORTED}:
        return Decision(Verdict.INCONCLUSIVE, f"{why} (a secondary test is not supported)")
    return Decision(speed.verdict, why)


def c15_uniform_injection(
    uniform_minus_best: Mapping[str, Estimate],
    uniform: Mapping[str, Estimate],
    *,
    not_measured: Sequence[str] = (),
) -> Decision:
    """Per condition kind (vector, map, text), normalised adherence (0 chance, 1 the real-data
    ceiling), intervals at a Bonferroni share of 95 % over the kinds measured. Supported when,
    for every kind, uniform − the best other mechanism lies above −``SAME_ADHERENCE`` and the
    uniform mechanism's own score above 0 (it follows the condition at all); refuted when
    uniform − best lies below −``SAME_ADHERENCE`` for one kind. A kind not measured, or one no
    better than chance, leaves it inconclusive (a refutation by another kind stands)."""
    if not uniform_minus_best:
        return Decision(Verdict.INCONCLUSIVE, "no condition kind measured")
    share = 1 - (1 - LEVEL) / len(uniform_minus_best)
    close = combine([side(e, "above", -SAME_ADHERENCE, share) for e in uniform_minus_best.values()])
    if close.verdict is Verdict.REFUTED:
        return close
    learned = combine([side(e, "above", 0.0, share) for e in uniform.values()])
    why = f"{close.why}; {learned.why}"
    if not_measured:
        why += f"; not measured: {', '.join(not_measured)}"
    if {close.verdict, learned.verdict} == {Verdict.SUPPORTED} and not not_measured:
        return Decision(Verdict.SUPPORTED, why)
    return Decision(Verdict.INCONCLUSIVE, why)


def across_seeds(per_seed: Mapping[int, Decision], pooled: Decision) -> Decision:
    """A claim decided on each training seed's runs alone (``per_seed``: seed → decision, its
    intervals over that run's samples) and on every seed together (``pooled``).

    Fewer than 2 seeds: the pooled decision. Per-seed verdicts that are not all the same (one
    seed supports where another refutes, or cannot tell): **unstable**, the verdict depends on
    the training seed. All the same and decided (supported or refuted): that verdict, unless the
    pooled one says the opposite (unstable). All inconclusive: the pooled decision (pooling may
    decide what no single run could). The pooled decision is named in every case."""
    if len(per_seed) < 2 or pooled.verdict is Verdict.NOT_RUN:
        return pooled
    verdicts = {d.verdict for d in per_seed.values()}
    seeds = "; ".join(f"seed {s}: {d.verdict.value} ({d.why})" for s, d in per_seed.items())
    why = f"{seeds}; pooled over seeds: {pooled.verdict.value} ({pooled.why})"
    if len(verdicts) > 1:
        return Decision(Verdict.UNSTABLE, f"the seeds disagree: {why}")
    (common,) = verdicts
    if common is Verdict.INCONCLUSIVE:
        return Decision(pooled.verdict, why)
    opposite = {Verdict.SUPPORTED: Verdict.REFUTED, Verdict.REFUTED: Verdict.SUPPORTED}
    if pooled.verdict is opposite.get(common):
        return Decision(Verdict.UNSTABLE, f"every seed {common.value}, pooled not: {why}")
    return Decision(common, f"every seed {common.value}: {why}")


def combine(decisions: Sequence[Decision]) -> Decision:
    """All supported → supported; any refuted → refuted; otherwise inconclusive."""
    why = "; ".join(d.why for d in decisions)
    verdicts = {d.verdict for d in decisions}
    if verdicts == {Verdict.SUPPORTED}:
        return Decision(Verdict.SUPPORTED, why)
    if Verdict.REFUTED in verdicts:
        return Decision(Verdict.REFUTED, why)
    return Decision(Verdict.INCONCLUSIVE, why)
