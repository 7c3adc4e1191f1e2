"""What ``trigen compare`` runs: families, budget, evaluation sizes and studies, as presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trigen.claims.ledger import CLAIMS
from trigen.claims.settings import ClaimSettings
from trigen.config import TEXT_ENCODERS, FamilyName, TrainConfig
from trigen.errors import ConfigError

# At 16 px, patch 4 gives 4×4 = 16 tokens: ~3× the images/s of patch 2 at the same width, which
# wins at a 2-minute budget (with RoPE, equal time: class accuracy 0.46 at 22k images vs 0.30 for
# patch 2 at 11k, MNIST 16 px, measured with the domain classifier)
DEMO_MODELS = {"dit": "DiT-T/4"}

# Every family trains for the same compute, in training FLOPs (images seen × one image's forward
# and backward, counted: trigen.train.flops), the axis the DiT paper compares on; the wall-clock
# each took is measured and reported. Per image at 16 px (this recipe): U-Net 200 MFLOP, DiT-T/4
# 120, pixel transformer 1730, MaskGIT 1736; at 28 px 619, 378, 8262, 8275. On the reference CPU
# (AMD EPYC, 2 threads, README) training ran at 132, 83 and 121 GFLOP/s (U-Net, DiT, AR; 658,
# 690, 70 img/s at 16 px), so 1.2e13 FLOPs buy U-Net 60k images (1.5 min), DiT 100k (2.4 min)
# and AR 6.9k (1.7 min): the 6 minutes of training the demo had at 2 minutes each
DEMO_FLOPS = 1.2e13
# The claims' own trainings train for training FLOPs too (ClaimSettings.*_flops), the same for
# every model a claim compares: C1/C2 the U-Net and its matched DiT, C3 the injections, C8/C11
# every family at every resolution, C15 the mechanisms. Each budget is what the minutes each run
# had bought on the reference CPU, spread over the claim's runs at each model's speed there, so
# a preset takes about the time it took: FLOPs per run = the runs' minutes ÷ Σ 1 / speed. Speeds
# (GFLOP/s): U-Net 132, DiT 83, AR 121 at 16 px (above); 156, 97, 130 at 28 and 32 px (the hour
# preset's); at 8 px, not measured, half the 16 px ones. Training MFLOP per image: mirror 32 px
# U-Net 812, matched DiT 291; C3's DiTs 119-138 at 16 px, 376-435 at 28; C15's DiT uniform
# 607, specialised 266, U-Net 243, AR prefix 2242 at 16 px (1217, 574, 686, 9702 at 28).
CLAIM_FLOPS_16PX = {
    "mirror_flops": 1.1e13,  # 1.5 min each: U-Net 13.5k images (70 s), DiT 38k (113 s)
    "variant_flops": 5.5e12,  # 1 min each: a DiT 40-46k images (66 s), the U-Net 27k (42 s)
    "resolution_flops": 7.5e12,  # 1.5 min each: AR 910 images at 28 px, 22k at 8 px
    "injection_flops": 6e12,  # 1 min each: DiT uniform 9.9k images, AR prefix 2.7k
}
"""The claims' FLOPs per run in the demo (16 px; the minutes ClaimSettings gives by default)."""
BUDGET_FIELDS = ("minutes_per_family", "images_per_family", "flops_per_family")
"""The kinds of per-family training budget; a comparison sets exactly one."""

# Each family's own recipe (its best known settings for short CPU runs, measured on MNIST at
# 16 px with equal images seen; docs/measurements.md, "Family recipes"): a fair comparison gives
# every family its best training, not one shared batch size. Few optimizer steps fit a short
# budget, so the slower families take smaller batches; 2-D RoPE lets both transformers learn
# neighbourhoods in far fewer steps; the pixel transformer adds the class to every token and
# modulates every block by it; MaskGIT keeps the prefix and class bias only.
FAMILY_TRAINING: dict[FamilyName, dict[str, Any]] = {
    FamilyName.UNET: {"lr": 2e-3, "batch_size": 64},
    FamilyName.DIT: {"lr": 2e-3, "batch_size": 32, "model_overrides": {"rope": True}},
    FamilyName.AR: {
        "lr": 2e-3,
        "batch_size": 16,
        "model_overrides": {"positions": "rope", "class_bias": True, "class_adaln": True},
        "lr_cooldown": 0.0,  # the lr cooldown did not help it at 2 minutes
    },
    FamilyName.PIXELCNN: {"lr": 2e-3, "batch_size": 16},
    FamilyName.MASKGIT: {
        "lr": 2e-3,
        "batch_size": 16,
        "model_overrides": {"positions": "rope", "class_bias": True},
    },
}


class Study(StrEnum):
    """Optional measurements beyond the headline table."""

    NFE = "nfe"  # quality vs number of denoiser evaluations, per sampler
    CFG = "cfg"  # guidance scale sweep: quality vs class accuracy
    RESOLUTION = "resolution"  # sampling latency / memory vs resolution at comparable size
    RECEPTIVE_FIELD = "receptive_field"  # |∂ out(centre) / ∂ in| per family
    CONDITIONING = "conditioning"  # DiT adaLN-Zero / adaLN / in-context / cross-attn, equal budget
    DIT_SCALING = "dit_scaling"  # a few DiT depths/widths: quality vs GFLOPs at equal images
    OBJECTIVE = "objective"  # U-Net flow matching vs diffusion at equal budget


@dataclass(frozen=True)
class CompareSettings:
    """One comparison: every family trains with the same data, budget and hardware."""

    families: tuple[FamilyName, ...] = (FamilyName.UNET, FamilyName.DIT, FamilyName.AR)
    dataset: str = "mnist"
    data_root: str | None = None
    resolution: int | None = 16  # shared by every family; 16 keeps 256-token AR affordable on CPU
    # the training budget of each family: one of wall-clock minutes, images seen, training FLOPs
    minutes_per_family: float | None = None
    images_per_family: int | None = None
    flops_per_family: float | None = DEMO_FLOPS
    models: dict[str, str] = field(default_factory=lambda: dict(DEMO_MODELS))
    # training batch of every family; None = each family's own recipe (FAMILY_TRAINING)
    batch_size: int | None = None
    sample_batch_size: int = 64  # images per sampling call
    precision: str = "fp32"
    seed: int = 0
    # training seeds per family (and per training inside a claim): seed, seed + 1, …
    # (trigen.compare.seeds); headline numbers are their mean with a t interval over seeds
    seeds: int = 1
    fid_samples: int = 160  # generated images per family for FID/KID/P&R
    reference_images: int = 300  # test images for the reference statistics
    nll_images: int = 100  # test images for bits/dim
    elbo_timesteps: int = 20  # Monte-Carlo timesteps per image of the diffusion ELBO
    sampler: str = "ddim"
    sampling_steps: int = 50
    maskgit_steps: int = 12  # MaskGIT's decoding steps K (its sampler's NFE)
    study_samples: int = 64  # images per point of the NFE / CFG sweeps (domain-feature metrics)
    nfe_steps: tuple[int, ...] = (5, 10, 20)
    nfe_samplers: tuple[str, ...] = ("ddim", "dpmpp_2m", "heun")
    cfg_scales: tuple[float, ...] = (1.0, 3.0)
    resolutions: tuple[int, ...] = (8, 16, 28)
    studies: tuple[Study, ...] = (Study.NFE, Study.CFG, Study.RESOLUTION, Study.RECEPTIVE_FIELD)
    conditioning_minutes: float = 2.0
    # a variant study's runs under a FLOPs budget (None: conditioning_minutes); under an image
    # budget they train as many images as each family
    conditioning_flops: float | None = DEMO_FLOPS
    # training images of the domain classifier (capped at its MAX_EPOCHS epochs): an image
    # budget, so the judge is the same network on a busy host as on an idle one; 2 MNIST epochs
    # (98.8 % test accuracy at 28 px) took 40-90 s of one core
    domain_images: int = 120_000
    ema_halflife_images: float = 2000.0  # short runs: average over the last few thousand images
    warmup_images: int = 1000
    # every family's lr decays linearly to zero over this last fraction of its budget: at 28 px
    # and 15 minutes it took DiT-T/4's FID@1k from 44.4 to 29.0 and the U-Net's from 23.3 to 20.7
    # (same seed, same host; a second seed is in the README, "Quality per CPU-minute")
    lr_cooldown: float = 0.3
    # named conditions every family trains with beside the class label (attributes, skeleton;
    # aliases vector, map); with any, an adherence study follows the headline measurements
    conditions: tuple[str, ...] = ()
    # the text condition's encoder in every training that takes captions (TEXT_ENCODERS):
    # wordllama, frozen and pretrained, or learned from the captions
    text_encoder: str = TrainConfig.text_encoder
    adherence_samples: int = 160  # test images whose conditions are requested, per condition
    # … at most, for a family that needs more network evaluations per image than the diffusion
    # sampler (one per token: the pixel transformer, PixelCNN)
    adherence_samples_slow: int = 64
    # training images of the text matcher that judges captions (trigen.eval.text_match); MNIST
    # captions, one busy core: test R-precision 0.46 at 16 px after 27k images (60 s), 0.43 at
    # 28 px (26k), 0.41 on held-out combinations at both; 0.48 at 16 px after one epoch (51k)
    text_match_images: int = 25_000
    # the claims ledger: which claims to test and each experiment's budget
    claims: ClaimSettings = field(default_factory=ClaimSettings)

    def __post_init__(self) -> None:
        if not self.families:
            raise ConfigError("compare needs at least one family")
        if self.seeds < 1:
            raise ConfigError(
                f"--seeds must be at least 1 (training seeds per family), got {self.seeds}"
            )
        budgets = [getattr(self, name) for name in BUDGET_FIELDS]
        if sum(b is not None for b in budgets) != 1:
            raise ConfigError(
                "give exactly one budget: minutes, images or training FLOPs per family"
            )
        for name in (*BUDGET_FIELDS, "conditioning_flops"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        for name in (
            "fid_samples",
            "reference_images",
            "nll_images",
            "study_samples",
            "sampling_steps",
            "maskgit_steps",
            "sample_batch_size",
            "elbo_timesteps",
            "adherence_samples",
            "adherence_samples_slow",
        ):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name} must be at least 2, got {getattr(self, name)}")
        if not 0.0 <= self.lr_cooldown < 1.0:
            raise ConfigError(
                f"lr_cooldown must be a fraction of the budget in [0, 1), got {self.lr_cooldown}"
            )
        for name in ("domain_images", "text_match_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.text_encoder not in TEXT_ENCODERS:
            raise ConfigError(
                f"unknown text encoder {self.text_encoder!r}; choose one of: "
                f"{', '.join(TEXT_ENCODERS)}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        object.__setattr__(self, "conditions", _condition_names(self.conditions, self.families))

    @property
    def budget_text(self) -> str:
        """The kind of budget and its size, e.g. ``1.2e+13 training FLOPs per family``."""
        if self.minutes_per_family is not None:
            budget = f"{self.minutes_per_family:g} wall-clock minutes per family"
        elif self.images_per_family is not None:
            budget = f"{self.images_per_family} images seen per family"
        else:
            budget = (
                f"{self.flops_per_family:.3g} training FLOPs per family (images seen × one "
                "image's forward and backward, counted)"
            )
        if self.lr_cooldown > 0:
            budget += f", the lr decaying to zero over the last {self.lr_cooldown:.0%} of it"
        return budget

    @property
    def variant_budget(self) -> dict[str, float]:
        """The training budget of each run of a variant study, as TrainConfig fields: the
        families' image count under an image budget, ``conditioning_flops`` under a FLOPs
        budget (where set), else ``conditioning_minutes``."""
        if self.images_per_family is not None:
            return {"max_images": self.images_per_family}
        if self.flops_per_family is not None and self.conditioning_flops is not None:
            return {"max_flops": self.conditioning_flops}
        return {"max_minutes": self.conditioning_minutes}


def _condition_names(names: tuple[str, ...], families: tuple[FamilyName, ...]) -> tuple[str, ...]:
    """``names`` with their aliases resolved, checked as each family's training run checks them
    (a known condition, a family that takes conditions), so a bad one fails before any training."""
    checked: tuple[str, ...] = ()
    try:
        for family in families if names else ():
            checked = TrainConfig(family=family, conditions=names).conditions
    except ConfigError as err:
        raise ConfigError(f"compare conditions: {err}") from None
    return checked


PRESETS: dict[str, CompareSettings] = {
    # MaskGIT is opt-in here (--families unet,dit,ar,maskgit adds ~4 minutes, past the 15)
    # make demo: ≤ 15 minutes on 2 CPU cores, set-up included; the claims that fit (C6, C7, C9,
    # C10, C13) replace the NFE and resolution studies, which they extend
    "demo": CompareSettings(
        studies=(Study.CFG, Study.RECEPTIVE_FIELD),
        # the guidance sweep on twice the headline's samples: ±0.05 on a class accuracy near 0.7
        # (±0.075 at 160), so the AR's cfg-3 accuracy is judged on an interval, not a point
        study_samples=320,
        claims=ClaimSettings(
            memory_resolutions=(16, 32, 64, 128),
            memory_batch=1,
            nfe_targets=(5, 10, 20, 250),
            **CLAIM_FLOPS_16PX,
        ),
    ),
    # an hour on 2 CPU cores: longer training, full FID sample size, every study
    "hour": CompareSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        resolution=28,
        models={"dit": "DiT-T/4"},
        # 28 px: U-Net 97k images (6.4 min on the reference CPU), DiT 159k (10.3), AR and
        # MaskGIT 7.3k each (≈ 7.7, their 28 px speed estimated from 16 px and interleaved
        # steps): the 32 minutes of training 8 minutes each had
        flops_per_family=6e13,
        fid_samples=1000,
        reference_images=2000,
        nll_images=500,
        study_samples=300,
        nfe_steps=(5, 10, 20, 50, 250),
        nfe_samplers=("ddim", "dpmpp_2m", "heun", "ddpm"),
        cfg_scales=(1.0, 1.5, 2.0, 3.0, 4.0),
        resolutions=(8, 16, 28, 32),
        studies=tuple(Study),
        conditioning_minutes=1.5,
        conditioning_flops=9e12,  # a DiT variant ≈ 1.5 min at 28 px, a U-Net one ≈ 1
        text_match_images=80_000,  # what 180 s bought at 28 px
        ema_halflife_images=10000.0,
        claims=ClaimSettings(
            run=tuple(CLAIMS),
            nfe_samples=200,
            variant_samples=200,
            # C3 and C15 train at 28 px here: the same minutes as the demo's at 28 px speeds
            **{**CLAIM_FLOPS_16PX, "variant_flops": 6.3e12, "injection_flops": 7e12},
        ),
    ),
    # every claim of the ledger at the largest scale 2 CPU cores allow in well under 3 hours
    "claims": CompareSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        # two training seeds of every family: the claims on them (C5, C9, C10, C13, C14) are
        # decided per seed and pooled; the claims' own runs train on claims.seeds (3, 2 for C15)
        seeds=2,
        # U-Net 80k images, DiT 133k, AR and MaskGIT 9.2k each: the 10 minutes of training
        # 2.5 minutes each had on the reference CPU
        flops_per_family=1.6e13,
        fid_samples=500,
        reference_images=1000,
        nll_images=300,
        study_samples=200,
        cfg_scales=(1.0, 1.5, 2.0, 3.0),
        studies=(Study.CFG, Study.RECEPTIVE_FIELD, Study.OBJECTIVE),
        claims=ClaimSettings(
            run=tuple(CLAIMS),
            mirror_minutes=1.25,
            mirror_flops=9e12,  # 1.25 min each (U-Net 11k images, DiT 31k)
            variant_flops=CLAIM_FLOPS_16PX["variant_flops"],
            resolution_minutes=1.0,
            resolution_flops=5e12,  # 1 min each (AR 610 images at 28 px, 14k at 8 px)
            memory_batch=1,
            nfe_targets=(5, 10, 20, 50, 250),
            nfe_samples=96,
            variant_samples=128,
            injection_minutes=2.0,
            injection_flops=1.2e13,  # 2 min each (DiT uniform 20k images, AR prefix 5.4k)
        ),
    ),
    # seconds: a smoke test of the whole pipeline (tests and CI)
    "smoke": CompareSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        resolution=8,
        # one step of MaskGIT's or the AR's 32 images (1.1e10 at 8 px) and some: they train 2
        # steps, the U-Net 10, DiT 15
        flops_per_family=1.5e10,
        batch_size=32,
        fid_samples=20,
        reference_images=20,
        nll_images=8,
        elbo_timesteps=2,
        sampling_steps=3,
        maskgit_steps=3,
        study_samples=10,
        nfe_steps=(2, 3),
        nfe_samplers=("ddim", "heun"),
        cfg_scales=(1.0, 2.0),
        resolutions=(8,),
        domain_images=2_000,
        conditioning_minutes=0.05,
        conditioning_flops=5e9,
        adherence_samples=16,
        adherence_samples_slow=8,
        text_match_images=1_000,
        claims=ClaimSettings(
            run=tuple(CLAIMS),
            seeds=(0, 1),
            bootstrap=20,
            mirror_resolution=8,
            mirror_minutes=0.01,
            # a few steps of each model at batch 32: the largest one step is U-Net's 1.6e9 at
            # 8 px (mirror, C3), the AR's 2.7e10 at 12 px (C8/C11), its 2.1e10 with C15's
            # conditions at 8 px
            mirror_flops=4e9,
            mirror_samples=20,
            variant_minutes=0.01,
            variant_flops=4e9,
            variant_samples=20,
            scaling_images=64,
            memory_resolutions=(8, 16),
            ar_token_resolutions=(4, 5, 6),  # a fit needs ≥ 3 points
            latency_nfes=(2, 4),
            latency_batches=(1, 2),
            quality_resolutions=(8, 12),
            resolution_minutes=0.01,
            resolution_flops=3e10,
            resolution_samples=20,
            nfe_targets=(2, 4),
            nfe_samples=20,
            vit_subsets=(16, 32),
            vit_pretrain_steps=2,
            vit_finetune_steps=2,
            gpt2_pretrain_steps=2,
            gpt2_finetune_steps=2,
            pretraining_batch=8,
            maskgit_steps=(2, 4),
            maskgit_samples=20,
            maskgit_repeats=1,
            maskgit_resolutions=(4, 6, 8),
            maskgit_latency_steps=3,
            injection_seeds=(0,),
            injection_minutes=0.01,
            injection_flops=2.5e10,
            injection_samples=16,
        ),
    ),
}


def compare_settings(preset: str, **overrides) -> CompareSettings:
    """The named preset with ``overrides`` (None values ignored) applied."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown compare preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    for given in [name for name in BUDGET_FIELDS if name in changes]:
        for other in BUDGET_FIELDS:  # a budget given replaces the preset's, of whatever kind
            if other != given:
                changes.setdefault(other, None)
    return dataclasses.replace(PRESETS[preset], **changes)
