"""The rules that turn measured intervals into verdicts, one function per claim.

Each rule reads :class:`Estimate` values only, so a unit test can feed it synthetic numbers on
either side of its boundary and watch the verdict flip. The wording of each rule is in
``ledger.CLAIMS[id].rule``; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from trigen.claims.ledger import Estimate, Verdict

LINEAR_EXPONENT = (0.7, 1.3)  # C7: an exponent in this band is "time ∝ length"
TENS_OF_STEPS = 10  # C10: "tens to hundreds" starts here
PARALLEL_SPEEDUP = 10.0  # C14: "≥ 10× faster per image"
FLAT_EXPONENT = 0.5  # C14: latency "stays flat" = grows slower than √tokens


class Decision(NamedTuple):
    verdict: Verdict
    why: str


def _show(e: Estimate) -> str:
    unit = f" {e.unit}" if e.unit and e.unit != "×" else ("×" if e.unit == "×" else "")
    if e.low == e.high:
        return f"{e.name} = {e.value:.4g}{unit}"
    return f"{e.name} = {e.value:.4g}{unit} [{e.low:.4g}, {e.high:.4g}]"


def side(e: Estimate, claimed: Literal["above", "below"], bound: float = 0.0) -> Decision:
    """Supported when the whole interval is on the claimed side of ``bound``, refuted when the
    whole interval is on the other side, inconclusive when it straddles (or touches) it."""
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


def c3_conditioning(adaln_zero_minus_others: Estimate) -> Decision:
    """adaLN-Zero class accuracy − mean of the other DiT variants: above 0 supports."""
    return side(adaln_zero_minus_others, "above")


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


def c7_serial(ar_exponent: Estimate, diffusion_steps_exponent: Estimate) -> Decision:
    """AR (KV cache) latency exponent in the linear band and diffusion steps flat: supported."""
    lo, hi = LINEAR_EXPONENT
    if ar_exponent.high < lo or ar_exponent.low > hi:
        return Decision(Verdict.REFUTED, f"{_show(ar_exponent)} is outside [{lo}, {hi}]")
    inside = lo <= ar_exponent.low and ar_exponent.high <= hi
    flat = diffusion_steps_exponent.low == diffusion_steps_exponent.high == 0.0
    if inside and flat:
        return Decision(
            Verdict.SUPPORTED,
            f"{_show(ar_exponent)} within [{lo}, {hi}]; {_show(diffusion_steps_exponent)}",
        )
    reason = "diffusion steps grow with pixels" if inside else f"straddles [{lo}, {hi}]"
    return Decision(Verdict.INCONCLUSIVE, f"{_show(ar_exponent)}: {reason}")


def c8_resolution(gap_change: Estimate) -> Decision:
    """(AR − diffusion accuracy) at the lowest minus at the highest resolution: above 0."""
    return side(gap_change, "above")


def c9_likelihood(ar_minus_diffusion: Sequence[Estimate]) -> Decision:
    """AR − diffusion bits/dim for every diffusion family: all below 0 supports."""
    if not ar_minus_diffusion:
        return Decision(Verdict.NOT_RUN, "no diffusion family to compare with")
    decisions = [side(e, "below") for e in ar_minus_diffusion]
    return combine(decisions)


def c10_steps(smallest_nfe: Estimate) -> Decision:
    """Smallest NFE within 10 % of NFE-250 quality: at or above 10 supports."""
    if smallest_nfe.low >= TENS_OF_STEPS:
        return Decision(Verdict.SUPPORTED, f"{_show(smallest_nfe)} ≥ {TENS_OF_STEPS}")
    if smallest_nfe.high < TENS_OF_STEPS:
        return Decision(Verdict.REFUTED, f"{_show(smallest_nfe)} < {TENS_OF_STEPS}")
    return Decision(Verdict.INCONCLUSIVE, f"{_show(smallest_nfe)} straddles {TENS_OF_STEPS}")


def clear_winner(scores: Mapping[str, Estimate]) -> str | None:
    """The family whose interval lies above every other family's, or None (a tie)."""
    for name, e in scores.items():
        if all(e.low > other.high for o, other in scores.items() if o != name):
            return name
    return None


def c11_best_use(lowest: Mapping[str, Estimate], highest: Mapping[str, Estimate]) -> Decision:
    """Accuracy per family at the lowest and highest resolution: AR wins low, DiT wins high."""
    low_winner, high_winner = clear_winner(lowest), clear_winner(highest)
    text = f"lowest resolution: {low_winner or 'no clear winner'}; highest: "
    text += high_winner or "no clear winner"
    if low_winner == "ar" and high_winner == "dit":
        return Decision(Verdict.SUPPORTED, text)
    if low_winner not in (None, "ar") or high_winner not in (None, "dit"):
        return Decision(Verdict.REFUTED, text)
    return Decision(Verdict.INCONCLUSIVE, text)


def c12_gpt2_init(scratch_minus_init: Estimate) -> Decision:
    """Scratch − GPT-2-init held-out bits/dim: above 0 supports."""
    return side(scratch_minus_init, "above")


def c13_speed(diffusion_over_ar_time: Estimate) -> Decision:
    """Fastest diffusion family's time per image at equal quality ÷ AR's: below 1 supports."""
    return side(diffusion_over_ar_time, "below", 1.0)


def c14_parallel_decoding(
    ar_over_maskgit_time: Estimate,
    maskgit_exponent: Estimate,
    ar_exponent: Estimate,
    *,
    equal_quality: bool,
) -> Decision:
    """AR ÷ MaskGIT time per image above 10 (at equal quality), MaskGIT's latency exponent in
    tokens below 0.5 (flat) and AR's above 0.7 (grows): all three support; one the other way
    refutes. A speed-up measured where MaskGIT did not reach AR's quality supports nothing."""
    speed = side(ar_over_maskgit_time, "above", PARALLEL_SPEEDUP)
    if not equal_quality and speed.verdict is Verdict.SUPPORTED:
        speed = Decision(Verdict.INCONCLUSIVE, f"{speed.why}, but below AR's quality")
    flat = side(maskgit_exponent, "below", FLAT_EXPONENT)
    grows = side(ar_exponent, "above", LINEAR_EXPONENT[0])
    return combine([speed, flat, grows])


def combine(decisions: Sequence[Decision]) -> Decision:
    """All supported → supported; any refuted → refuted; otherwise inconclusive."""
    why = "; ".join(d.why for d in decisions)
    verdicts = {d.verdict for d in decisions}
    if verdicts == {Verdict.SUPPORTED}:
        return Decision(Verdict.SUPPORTED, why)
    if Verdict.REFUTED in verdicts:
        return Decision(Verdict.REFUTED, why)
    return Decision(Verdict.INCONCLUSIVE, why)
