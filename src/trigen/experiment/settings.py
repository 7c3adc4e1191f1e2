"""What ``trigen compare`` runs, as presets: the comparison of the families
(:class:`~trigen.compare.settings.CompareSettings`) and the claims tested on it
(:class:`~trigen.claims.settings.ClaimSettings`) in one settings object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from trigen.claims.ledger import CLAIMS
from trigen.claims.settings import ClaimSettings
from trigen.compare.seeds import training_seeds
from trigen.compare.settings import BUDGET_FIELDS, CompareSettings, Study
from trigen.config import FamilyName
from trigen.errors import ConfigError


@dataclass(frozen=True)
class ExperimentSettings(CompareSettings):
    """One ``trigen compare`` run: the comparison, and the claims ledger's experiments on it."""

    # the claims ledger: which claims to test and each experiment's budget
    claims: ClaimSettings = field(default_factory=ClaimSettings)


def with_seeds(s: ExperimentSettings, count: int | None, base: int | None) -> ExperimentSettings:
    """``s`` with ``count`` training seeds from ``base`` (None: the preset's). Given either, the
    claims' own training seeds are derived from the same base too: ``count`` of them from two
    seeds on; with one, as many as the preset trains (a claim over seeds needs two to decide),
    so every training of the run follows ``--seed``."""
    if count is None and base is None:
        return s
    base = s.seed if base is None else base
    count = s.seeds if count is None else count
    training_seeds(base, count)  # a bad count fails here, in one line
    cs = s.claims
    claims = dataclasses.replace(
        cs,
        seeds=training_seeds(base, count if count > 1 else len(cs.seeds)),
        injection_seeds=training_seeds(base, count if count > 1 else len(cs.injection_seeds)),
    )
    return dataclasses.replace(s, seed=base, seeds=count, claims=claims)


# The claims' own trainings train for training FLOPs too (ClaimSettings.*_flops), the same for
# every model a claim compares: C1/C2 the U-Net and its matched DiT, C3 the injections, C8/C11
# every family at every resolution, C15 the mechanisms. Each budget is what the minutes each run
# had bought on the reference CPU, spread over the claim's runs at each model's speed there; the
# minutes and images each buys: docs/measurements.md, "Compute budgets of the presets".
CLAIM_FLOPS_16PX = {
    "mirror_flops": 1.1e13,
    "variant_flops": 5.5e12,
    "resolution_flops": 7.5e12,
    "injection_flops": 6e12,
}
"""The claims' FLOPs per run in the demo (16 px; the minutes ClaimSettings gives by default)."""
PRESETS: dict[str, ExperimentSettings] = {
    # MaskGIT is opt-in here (--families unet,dit,ar,maskgit adds ~4 minutes, past the 15)
    # make demo: ≈ 10 minutes on 2 CPU cores, the install aside; the claims that fit (C6, C7, C9,
    # C10, C13) replace the NFE and resolution studies, which they extend
    "demo": ExperimentSettings(
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
    "hour": ExperimentSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        resolution=28,
        models={"dit": "DiT-T/4"},
        # the 32 minutes of training that 8 minutes each had on the reference CPU, at 28 px
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
        conditioning_flops=9e12,
        text_match_images=80_000,
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
    "claims": ExperimentSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        # two training seeds of every family: the claims on them (C5, C9, C10, C13, C14) are
        # decided per seed and pooled; the claims' own runs train on claims.seeds (3, 2 for C15)
        seeds=2,
        # the 10 minutes of training that 2.5 minutes each had on the reference CPU
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
            mirror_flops=9e12,
            variant_flops=CLAIM_FLOPS_16PX["variant_flops"],
            resolution_minutes=1.0,
            resolution_flops=5e12,
            memory_batch=1,
            nfe_targets=(5, 10, 20, 50, 250),
            nfe_samples=96,
            variant_samples=128,
            injection_minutes=2.0,
            injection_flops=1.2e13,
        ),
    ),
    # seconds: a smoke test of the whole pipeline (tests and CI)
    "smoke": ExperimentSettings(
        families=(FamilyName.UNET, FamilyName.DIT, FamilyName.AR, FamilyName.MASKGIT),
        resolution=8,
        # one step of MaskGIT's or the AR's 32 images at 8 px and some
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
            # a few steps of each model at batch 32 (above its largest step)
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


def compare_settings(preset: str, **overrides) -> ExperimentSettings:
    """The named preset with ``overrides`` (None values ignored) applied."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown compare preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    for given in [name for name in BUDGET_FIELDS if name in changes]:
        for other in BUDGET_FIELDS:  # a budget given replaces the preset's, of whatever kind
            if other != given:
                changes.setdefault(other, None)
    return dataclasses.replace(PRESETS[preset], **changes)
