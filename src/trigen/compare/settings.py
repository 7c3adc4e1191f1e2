"""What a comparison of the families runs: families, budget, evaluation sizes, studies, and each
family's training recipe. The presets, which add the claims' settings, are
:mod:`trigen.experiment.settings`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trigen.config import TEXT_ENCODERS, FamilyName, TrainConfig
from trigen.errors import ConfigError

# At 16 px, patch 4 (16 tokens) trains ~3× faster than patch 2 and wins a short budget
# (docs/measurements.md, "DiT patch 4 at 16 px")
DEMO_MODELS = {"dit": "DiT-T/4"}

# Every family trains for the same compute, in training FLOPs (images seen × one image's forward
# and backward, counted: trigen.train.flops), the axis the DiT paper compares on; the wall-clock
# each took is measured and reported. The demo's: what its 2 minutes per family bought on the
# reference CPU (docs/measurements.md, "Compute budgets of the presets")
DEMO_FLOPS = 1.2e13
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
    # budget, so the judge is the same network on a busy host as on an idle one (2 MNIST epochs;
    # docs/measurements.md, "The judges' training images")
    domain_images: int = 120_000
    ema_halflife_images: float = 2000.0  # short runs: average over the last few thousand images
    warmup_images: int = 1000
    # every family's lr decays linearly to zero over this last fraction of its budget
    # (docs/measurements.md, "The lr cooldown")
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
    # training images of the text matcher that judges captions (trigen.eval.text_match; its
    # test R-precision per count: docs/measurements.md, "The judges' training images")
    text_match_images: int = 25_000

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
