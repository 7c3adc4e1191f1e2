"""The fourteen claims of the comparison table and the typed record of what testing one found."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """What the measurements say about a claim."""

    SUPPORTED = "supported"  # the interval lies on the claimed side of the rule
    REFUTED = "refuted"  # the interval lies on the other side
    INCONCLUSIVE = "inconclusive"  # the interval straddles the rule's boundary
    NOT_RUN = "not_run"  # the experiment did not run in this comparison


@dataclass(frozen=True)
class Estimate:
    """One measured number with its interval, sample count and how the interval was made.

    ``low``/``high`` bound the 95 % interval (equal to ``value`` for an exact count or a
    deterministic measurement such as tensor bytes); ``n`` is the number of samples, images,
    seeds or points behind it, as ``method`` says.
    """

    name: str
    value: float
    low: float
    high: float
    unit: str = ""
    n: int = 1
    method: str = "exact"

    @classmethod
    def exact(cls, name: str, value: float, unit: str = "", n: int = 1) -> Estimate:
        """A deterministic number (a count, a byte total): its interval is the value itself."""
        return cls(name, float(value), float(value), float(value), unit, n, "exact")

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.value, self.low, self.high))
        if finite and not self.low <= self.value <= self.high:
            # a bootstrap percentile interval need not hold the plug-in value; widen to hold it
            object.__setattr__(self, "low", min(self.low, self.value))
            object.__setattr__(self, "high", max(self.high, self.value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "n": self.n,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        return cls(d["name"], d["value"], d["low"], d["high"], d["unit"], d["n"], d["method"])


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


CLAIMS_COMMAND = "trigen compare --preset claims --claims {id} --out runs/claims-{id}"

_CLAIMS = (
    (
        "C1",
        "DiT's global self-attention captures long-range pixel correlations faster than "
        "U-Net's local convolutions",
        "U-Net and DiT trained with equal budget on the built-in mirror dataset (32 px, the "
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
        "vs DiT of comparable parameters, and the high-frequency energy of samples vs data",
        "supported when the 95 % interval of DiT − U-Net low-noise MSE lies below 0, refuted "
        "when it lies above 0",
    ),
    (
        "C3",
        "DiT's condition injection (adaLN-Zero) is uniform and extends to several conditions",
        "DiT with adaLN-Zero, adaLN, in-context tokens and cross-attention, and the U-Net's "
        "AdaGN, at equal budget: class accuracy of the samples (domain classifier)",
        "supported when the 95 % interval of adaLN-Zero's class accuracy minus the mean of the "
        "other DiT variants lies above 0, refuted when below 0",
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
        "three or more DiT sizes trained on the same images: domain FID against GFLOPs per "
        "forward, log-log slope",
        "supported when the 95 % interval of the slope of log FID on log GFLOPs lies below 0, "
        "refuted when above 0",
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
        "AR sampling latency against tokens with and without KV cache; diffusion latency "
        "against NFE and batch; fitted log-log exponents",
        "supported when the 95 % interval of the AR (KV-cache) exponent lies in [0.7, 1.3] and "
        "diffusion's serial steps do not grow with the pixels; refuted when the AR interval "
        "lies outside [0.7, 1.3]",
    ),
    (
        "C8",
        "AR is precise at low resolution and loses global structure at high resolution; "
        "diffusion keeps it",
        "AR and diffusion trained at equal wall-clock at several resolutions: class accuracy "
        "of the samples (domain classifier) against resolution",
        "supported when the 95 % interval of (AR − diffusion accuracy at the lowest resolution) "
        "− (the same at the highest) lies above 0, refuted when below 0",
    ),
    (
        "C9",
        "AR maximises an exact likelihood",
        "exact bits/dim of the AR model vs the ELBO bound of each diffusion family on the same "
        "test images, paired bootstrap",
        "supported when the 95 % interval of AR − diffusion bits/dim lies below 0 for every "
        "diffusion family, refuted when above 0 for one",
    ),
    (
        "C10",
        "diffusion needs tens to hundreds of steps",
        "domain FID against NFE per sampler up to NFE 250: the smallest NFE within 10 % of "
        "the NFE-250 quality, best sampler, bootstrap over samples",
        "supported when the 95 % interval of that smallest NFE lies at or above 10, refuted "
        "when it lies below 10",
    ),
    (
        "C11",
        "best use: U-Net at medium resolution, DiT at high resolution, AR at low resolution",
        "from the C8 runs: at each resolution the family with the best class accuracy at equal "
        "training time",
        "supported when AR wins the lowest and DiT the highest resolution (95 % intervals "
        "apart), refuted when another family clearly wins either end",
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
        "supported when the interval of the fastest diffusion family's time ÷ AR's lies below "
        "1, refuted when above 1",
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
        "supported when the interval of AR ÷ MaskGIT time per image lies above 10 at equal "
        "quality, MaskGIT's latency exponent lies below 0.5 and AR's above 0.7; refuted when "
        "any of the three lies on the other side",
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
