"""Which claims a comparison tests, and the budget of each experiment."""

from __future__ import annotations

from dataclasses import dataclass

from trigen.claims.ledger import CLAIMS
from trigen.errors import ConfigError


@dataclass(frozen=True)
class ClaimSettings:
    """Budgets of the claims experiments; ``run`` lists the ids to test (the rest: not_run).

    A claim's own training runs train for its ``*_flops`` budget, training FLOPs per run and
    equal for every model it compares (the presets set them: the same work on any host), or,
    where that is None, for its ``*_minutes`` of wall-clock (the same time on any host, so a
    faster one trains more, and a rerun trains otherwise: :func:`claim_budget`); seeds are
    training seeds where a claim compares training outcomes, and every quality number is
    bootstrapped over its samples.
    """

    run: tuple[str, ...] = ("C6", "C7", "C9", "C10", "C13")
    seeds: tuple[int, ...] = (0, 1, 2)
    bootstrap: int = 200  # resamples per interval of an FID
    # C1 / C2: long-range consistency on the mirror dataset, U-Net vs DiT of comparable size
    mirror_resolution: int = 32
    mirror_minutes: float = 1.5
    mirror_flops: float | None = None  # per run, the U-Net's and the DiT's (None: minutes)
    mirror_samples: int = 64
    # C3: DiT conditioning variants (and the U-Net's AdaGN), C5: DiT sizes; minutes per run
    variant_minutes: float = 1.0
    variant_flops: float | None = None  # C3, per run of each injection (None: minutes)
    variant_samples: int = 100
    scaling_images: int = 12_000  # C5: equal images seen per DiT size
    # C6: resolution sweep of untrained networks; C7: sequence length / NFE / batch sweeps
    memory_resolutions: tuple[int, ...] = (16, 32, 64, 128, 256)
    memory_batch: int = 2
    ar_token_resolutions: tuple[int, ...] = (4, 6, 8, 12, 16)
    latency_nfes: tuple[int, ...] = (5, 10, 20, 40)
    latency_batches: tuple[int, ...] = (1, 2, 4, 8, 16)
    # C8 / C11: quality vs resolution at equal training time per (family, resolution)
    resolution_families: tuple[str, ...] = ("unet", "dit", "ar")
    quality_resolutions: tuple[int, ...] = (8, 16, 28)
    resolution_minutes: float = 1.5
    resolution_flops: float | None = None  # per (family, resolution) run (None: minutes)
    resolution_samples: int = 100
    # C10 / C13: quality vs NFE of every diffusion sampler, up to NFE 250
    nfe_targets: tuple[int, ...] = (5, 10, 20, 50, 100, 250)
    nfe_samplers: tuple[str, ...] = ("ddim", "dpmpp_2m", "heun")
    nfe_samples: int = 64
    # C4 / C12: pretraining experiments
    vit_subsets: tuple[int, ...] = (1000, 10_000, 60_000)
    vit_pretrain_steps: int = 300  # ViT step at batch 32: ~0.24 CPU-s (1 thread)
    vit_finetune_steps: int = 100  # DiT-T/4 step at 28 px: ~0.27 CPU-s; C4 ≈ 10 CPU-min
    gpt2_pretrain_steps: int = 150  # ar-tiny step at 16 px: ~0.9 CPU-s
    gpt2_finetune_steps: int = 40  # C12 ≈ 7 CPU-min
    pretraining_batch: int = 32
    # C14: MaskGIT vs raster AR; quality at each K, timing per image at one batch, latency
    # of untrained networks (batch 1) against resolution at a fixed K
    maskgit_steps: tuple[int, ...] = (4, 8, 16)
    maskgit_samples: int = 100
    maskgit_timing_batch: int = 1
    maskgit_repeats: int = 3
    maskgit_resolutions: tuple[int, ...] = (16, 24, 32, 48, 64)
    maskgit_latency_steps: int = 12
    # C15: one model per condition injection mechanism, trained on every condition at once,
    # once per seed (its own seeds: its interval is over requests, pooled over seeds, so a
    # budget buys more by longer runs than by more seeds); requests per condition kind and model
    injection_seeds: tuple[int, ...] = (0, 1)
    injection_minutes: float = 1.0
    injection_flops: float | None = None  # per mechanism and seed (None: minutes)
    injection_samples: int = 128

    def __post_init__(self) -> None:
        unknown = [c for c in self.run if c not in CLAIMS]
        if unknown:
            raise ConfigError(f"unknown claim id(s) {unknown}; choose from {', '.join(CLAIMS)}")
        if not self.seeds or not self.injection_seeds:
            raise ConfigError("claims need at least one seed")
        for name in ("mirror", "variant", "resolution", "injection"):
            flops, minutes = getattr(self, f"{name}_flops"), getattr(self, f"{name}_minutes")
            if not (flops is None or flops > 0) or not minutes > 0:
                raise ConfigError(
                    f"{name}_flops and {name}_minutes must be positive, got {flops}, {minutes}"
                )

    def runs(self, claim_id: str) -> bool:
        return claim_id in self.run


def claim_budget(flops: float | None, minutes: float) -> dict[str, float]:
    """One claim training's budget as TrainConfig fields: ``flops`` training FLOPs where given,
    else ``minutes`` of wall-clock (a budget given to ``config_for`` replaces the comparison's
    whole)."""
    return {"max_flops": flops} if flops is not None else {"max_minutes": minutes}


def budget_text(budget: dict[str, float]) -> str:
    """``{"max_flops": 1.2e13}`` → ``"1.2e+13 training FLOPs"``; minutes → ``"1.5 wall-clock
    min"``: what one claim training got, for its log line."""
    if budget.get("max_flops") is not None:
        return f"{budget['max_flops']:.3g} training FLOPs"
    return f"{budget['max_minutes']:g} wall-clock min"


def parse_claim_ids(text: str) -> tuple[str, ...]:
    """``"C1,c6"`` → ("C1", "C6"); ``"all"`` → every id; ``""`` / ``"none"`` → ()."""
    text = text.strip()
    if text.lower() == "all":
        return tuple(CLAIMS)
    if text.lower() in ("", "none"):
        return ()
    ids = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    unknown = [c for c in ids if c not in CLAIMS]
    if unknown:
        raise ConfigError(f"unknown claim id(s) {unknown}; choose from all, {', '.join(CLAIMS)}")
    return ids
