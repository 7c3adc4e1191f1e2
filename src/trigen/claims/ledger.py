"""The claims of the comparison table and the typed record of what testing one found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from trigen.measure.estimate import Estimate

if TYPE_CHECKING:
    from trigen.measure.scaling import LatencyPoint


class Verdict(StrEnum):
    """What the measurements say about a claim."""

    SUPPORTED = "supported"  # the interval lies on the claimed side of the rule
    REFUTED = "refuted"  # the interval lies on the other side
    INCONCLUSIVE = "inconclusive"  # the interval straddles the rule's boundary
    # training seeds disagree: one seed's runs decide otherwise than another's
    # (``rules.across_seeds``; the pooled verdict is shown beside it)
    UNSTABLE = "unstable"
    NOT_RUN = "not_run"  # the experiment did not run in this comparison


@dataclass(frozen=True)
class Claim:
    """A claim of the comparison table and the experiment that tests it."""

    id: str
    claim: str
    experiment: str
    rule: str  # how the numbers become a verdict, in words (the code is in ``rules``)
    command: str  # the command that reruns it


@dataclass(frozen=True)
class ClaimResult:
    """What testing one claim measured and concluded."""

    claim: Claim
    verdict: Verdict
    why: str  # one sentence: the number that decided it
    measured: tuple[Estimate, ...] = ()
    n_seeds: int = 0
    n_samples: int = 0
    figure: str | None = None  # file name under the report directory
    details: dict[str, Any] = field(default_factory=dict)  # the study's raw points (JSON)

    @classmethod
    def not_run(cls, claim: Claim, reason: str) -> ClaimResult:
        return cls(claim, Verdict.NOT_RUN, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.claim.id,
            "claim": self.claim.claim,
            "experiment": self.claim.experiment,
            "rule": self.claim.rule,
            "command": self.claim.command,
            "verdict": self.verdict.value,
            "why": self.why,
            "measured": [e.to_dict() for e in self.measured],
            "n_seeds": self.n_seeds,
            "n_samples": self.n_samples,
            "figure": self.figure,
            "details": self.details,
        }


# How every claim on trained networks reads several training seeds (``rules.across_seeds``)
SEEDS_RULE = (
    "with several training seeds, each seed's runs are decided alone (intervals over their "
    "samples) and all seeds pooled (t over seeds): seeds whose verdicts differ make the claim "
    "unstable; seeds that agree give their verdict; seeds that each cannot tell leave it to the "
    "pooled verdict"
)

CLAIMS_COMMAND = "trigen compare --preset claims --claims {id} --out runs/claims-{id}"

_CLAIMS = (
    (
        "C1",
        "DiT's global self-attention captures long-range pixel correlations faster than "
        "U-Net's local convolutions",
        "U-Net and DiT of comparable parameters trained for equal training FLOPs (the DiT "
        "paper's axis: the same compute on any host) on the built-in mirror dataset (32 px, the "
        "bottom-right quadrant repeats the top-left one rotated by 180°), over seeds; mirror "
        "consistency of the samples (1 = exact, 0 = no dependency); radius of the effective "
        "receptive field holding 90 % of the gradient mass",
        "supported when the 95 % interval of DiT − U-Net mirror consistency lies above 0, "
        "refuted when it lies below 0",
    ),
    (
        "C2",
        "DiT's constant token count avoids the information loss of repeated down/up-sampling",
        "denoising MSE of x̂₀ at low noise (σ ≤ 0.2) on the same test images and noise, U-Net "
        "vs DiT of comparable parameters (the C1 runs, equal training FLOPs), and the "
        "high-frequency energy of samples vs data",
        "supported when the t 95 % interval over seeds of DiT − U-Net low-noise MSE (each "
        "seed's mean over the same images and noise) lies below 0, refuted "
        "when it lies above 0",
    ),
    (
        "C3",
        "adaLN-Zero is DiT's best injection of the class label",
        "DiT with adaLN-Zero, adaLN, in-context tokens and cross-attention, and the U-Net's "
        "AdaGN, at equal training FLOPs (the DiT paper's axis), each trained once per seed: "
        "class accuracy of the samples (domain classifier). It measures one condition, the "
        "class label; conditions beyond it (attribute vectors, maps, text) are C15's",
        "adaLN-Zero − each other DiT injection, per seed, t over seeds with a Bonferroni share "
        "of 95 %: above 0 for every one supports the claim, below 0 for one refutes it",
    ),
    (
        "C4",
        "DiT can start from pretrained ViT weights and then converges faster, with less data",
        "a ViT classifier pretrained with trigen on Fashion-MNIST initialises DiT-T/4 for "
        "MNIST with 1k / 10k / 60k training images, against scratch: held-out diffusion loss "
        "at equal steps, paired over seeds",
        "supported when, at the smallest data size, the 95 % interval of scratch − ViT-init "
        "held-out loss lies above 0; refuted when below 0",
    ),
    (
        "C5",
        "DiT quality scales with depth / width / GFLOPs",
        "three or more DiT sizes trained on the same images, once per training seed of the "
        "comparison (--seeds): bias-corrected domain "
        "FID∞ (16 principal axes) against GFLOPs per forward, log-log slope",
        "supported when the 95 % interval of the slope of log FID∞ on log GFLOPs lies below 0 "
        "(bootstrap of the bias-corrected replicates; no interval with fewer than 3 sizes or "
        "4 samples per axis), refuted when above 0",
    ),
    (
        "C6",
        "at high resolution DiT is more parallel and can need less memory than a U-Net",
        "training-step and sampling-step peak tensor memory and latency of untrained networks "
        "at 16 → 256 px, each point measured on its own network, with log-log slopes",
        "supported when DiT's training-step peak memory at the largest resolution is below the "
        "U-Net's (exact byte counts), refuted when above",
    ),
    (
        "C7",
        "AR sampling is serial (time ∝ sequence length); a diffusion step predicts the whole "
        "image at once",
        "AR sampling latency against tokens with and without KV cache (≥ 3 points); diffusion "
        "latency against NFE and batch; fitted log-log exponents. That a diffusion sampler's "
        "serial steps do not grow with the pixels holds by construction (the step count is the "
        "user's choice): the calls are counted and shown, not tested",
        "supported when the 95 % interval of the AR (KV-cache) exponent lies inside (0.7, 1.3), "
        "refuted when it lies outside [0.7, 1.3]",
    ),
    (
        "C8",
        "AR is precise at low resolution and loses global structure at high resolution; "
        "diffusion keeps it",
        "AR and diffusion trained for equal training FLOPs per run at several resolutions, once "
        "per seed: class accuracy of the samples (domain classifier) against resolution. The "
        "claim is about what each family makes of the same compute at each resolution; FLOPs "
        "count that compute, where equal wall-clock measured it on one host at one moment (a "
        "rerun or another host trained other amounts)",
        "supported when the t 95 % interval over seeds of (AR − diffusion accuracy at the lowest "
        "resolution) − (the same at the highest) lies above 0, refuted when below 0",
    ),
    (
        "C9",
        "AR maximises an exact likelihood",
        "exact bits/dim of the AR model vs the ELBO of each diffusion family on the same test "
        "images, paired bootstrap. The ELBO is an upper bound on the diffusion model's NLL, so "
        "the comparison favours AR by construction: 'supported' says AR beats the bound",
        "supported when the interval of AR − diffusion bits/dim (a Bonferroni share of 95 % per "
        "family) lies below 0 for every diffusion family, refuted when above 0 for one",
    ),
    (
        "C10",
        "diffusion needs tens to hundreds of steps",
        "bias-corrected domain FID∞ (16 principal axes, the reference's noise included) against "
        "NFE per sampler up to the largest NFE; the test, stated before measuring, uses "
        "DPM-Solver++(2M) (the few-step solver): FID∞ at the largest NFE below 10 ÷ FID∞ at the "
        "largest NFE, per diffusion family; the other samplers are shown, not tested",
        "supported when that ratio's interval (≥ 95 % jointly over the families, Bonferroni) "
        "lies above 1.1 for every family (fewer than 10 steps fall more than 10 % short), "
        "refuted when it lies below 1.1 for one; no interval below 4 samples per axis",
    ),
    (
        "C11",
        "best use: U-Net at medium resolution, DiT at high resolution, AR at low resolution",
        "from the C8 runs: at the lowest, middle and highest resolution, the claimed family's "
        "class accuracy minus each other family's, per seed (t over seeds)",
        "supported when AR beats every other family at the lowest resolution, the U-Net at the "
        "middle one and DiT at the highest (every interval above 0, Bonferroni over all the "
        "comparisons); refuted when any other family clearly beats the claimed one at its "
        "resolution (a clear loser refutes even when the others tie)",
    ),
    (
        "C12",
        "the AR model can start from GPT-style language-model weights",
        "the pixel transformer pretrained with trigen on Fashion-MNIST pixels, exported and "
        "reloaded in GPT-2 layout, fine-tuned on MNIST vs scratch: held-out bits/dim at equal "
        "steps, paired over seeds",
        "supported when the 95 % interval of scratch − GPT-2-init bits/dim lies above 0, "
        "refuted when below 0",
    ),
    (
        "C13",
        "diffusion's parallel steps make it clearly faster than AR",
        "wall-clock per image at equal quality: each family at the cheapest setting that "
        "reaches the quality every family reaches (domain FID)",
        "supported when the interval of the fastest diffusion family's time ÷ AR's (median of "
        "≥ 6 interleaved rounds, order-statistic interval ≥ 95 %) lies below 1, refuted when "
        "above 1",
    ),
    (
        "C14",
        "masked parallel decoding (MaskGIT) samples ≥ 10× faster per image than raster AR with "
        "a KV cache at equal quality, and its latency stays flat from 16 to 64 px at fixed K "
        "while raster AR's grows with the token count",
        "MaskGIT and the pixel transformer trained with equal budget: domain FID of MaskGIT at "
        "several decoding steps K and of AR, the cheapest K reaching AR's domain FID, both "
        "timed per image at one batch; untrained networks of both presets timed per image "
        "(batch 1) at 16 → 64 px with K fixed, log-log exponents in tokens",
        "primary test, stated before measuring: AR ÷ MaskGIT time per image at equal quality "
        "(median of ≥ 6 interleaved rounds, order-statistic interval ≥ 95 %) above 10 supports, "
        "below 10 refutes; the latency exponents (MaskGIT's below 0.5, AR's above 0.7) are "
        "secondary: on the wrong side they turn a 'supported' into inconclusive",
    ),
    (
        "C15",
        "DiT's condition injection is uniform and extends to several conditions (text, maps, "
        "attribute vectors)",
        "on MNIST, at equal training FLOPs per run and seed (the DiT paper's axis), one model "
        "per mechanism trained on the class, the Morpho-MNIST attributes, the skeleton map and "
        "the captions together: DiT uniform (t, class, vector, map patches and caption all "
        "tokens in one self-attention), DiT specialised (adaLN-Zero, vector into adaLN, map as "
        "a zero patch embedding, caption by cross-attention), the U-Net (vector into the time "
        "embedding, hint encoder, cross-attention) and the raster AR model (all as prefix "
        "tokens). Each condition alone is asked for (the others and the class null) with the "
        "conditions of the first test images; per kind, normalised adherence (sample − chance) "
        "÷ (real-data ceiling − chance), chance = the requests rolled by one: the vector by the "
        "Pearson correlation of requested and measured thickness and slant (averaged after "
        "normalising each), the map by skeleton F1 at 1 px, the caption by R-precision (its "
        "caption ranked first among 100 by the in-domain text matcher); a percentile bootstrap "
        "over requests, pooled over seeds, paired across mechanisms",
        "per kind, uniform − the best other mechanism (the best taken inside each bootstrap "
        "replicate), intervals at a Bonferroni share of 95 % over the kinds: supported when "
        "every interval lies above −0.1 (within a tenth of the chance-to-ceiling gap) and the "
        "uniform model's own score lies above 0 for every kind; refuted when one lies below "
        "−0.1; a kind not measured (text, where no text matcher judges captions) leaves it "
        "inconclusive",
    ),
)

CLAIMS: dict[str, Claim] = {
    cid: Claim(cid, text, experiment, rule, CLAIMS_COMMAND.format(id=cid))
    for cid, text, experiment, rule in _CLAIMS
}


@dataclass(frozen=True)
class Series:
    """One line of a claim's small plot: y against x, with an optional interval per point."""

    label: str
    x: list[float]
    y: list[float]
    xlabel: str
    ylabel: str
    low: list[float] | None = None
    high: list[float] | None = None
    logx: bool = True
    logy: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "x": list(self.x),
            "y": list(self.y),
            "low": None if self.low is None else list(self.low),
            "high": None if self.high is None else list(self.high),
            "xlabel": self.xlabel,
            "ylabel": self.ylabel,
            "logx": self.logx,
            "logy": self.logy,
        }


def latency_series(
    label: str, points: Sequence[LatencyPoint], xlabel: str, ylabel: str
) -> dict[str, Any]:
    """A latency sweep as one plot line (JSON): median time per point, its min–max as the band."""
    return Series(
        label,
        [p.x for p in points],
        [p.timing.median_s for p in points],
        xlabel,
        ylabel,
        low=[p.timing.min_s for p in points],
        high=[p.timing.max_s for p in points],
    ).to_dict()
