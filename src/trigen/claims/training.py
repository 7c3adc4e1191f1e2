"""Claims that need runs of their own: long-range structure (C1) and fine detail (C2) on the
mirror dataset, conditioning (C3), DiT scaling (C5), quality against resolution (C8, C11)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from trigen.api import Loaded
from trigen.build import DataSpec, build_family
from trigen.claims import stats
from trigen.claims.context import ClaimContext
from trigen.claims.decide import claim_result
from trigen.claims.ledger import CLAIMS, ClaimResult, Series
from trigen.config import FamilyName
from trigen.data.datasets import load_dataset
from trigen.eval.consistency import mirror_consistency
from trigen.eval.cost import count_parameters
from trigen.eval.denoising import denoising_mse
from trigen.eval.domain import DomainClassifier
from trigen.eval.fid_bootstrap import corrected
from trigen.eval.receptive_field import erf_radius, receptive_field
from trigen.eval.spectrum import hf_ratio
from trigen.measure.probes import PROBE_TIMESTEP, RF_BATCH, forward_flops
from trigen.measure.samples import generate, sample_spec
from trigen.measure.variants import conditioning_configs, dit_scaling_configs
from trigen.sampling import class_labels

MIRROR = "mirror"
# DiT shapes tried for "comparable parameters" with the U-Net; the closest count is used
DIT_SHAPES = ((4, 96, 2), (6, 96, 2), (4, 128, 2), (6, 128, 2), (8, 96, 2), (8, 128, 2))


def _samples(ctx: ClaimContext, loaded: Loaded, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    labels = class_labels(loaded.data.num_classes, n)
    spec = sample_spec(FamilyName(loaded.config.family), ctx.compare)
    images = generate(loaded.family, labels, spec, seed=seed, batch=ctx.compare.sample_batch_size)
    return images, labels


def _run_dir(ctx: ClaimContext, *parts: object) -> Path:
    return ctx.out / "claims" / "-".join(str(p).replace(" ", "_") for p in parts)


def _matched_dit(ctx: ClaimContext, unet_cfg, spec: DataSpec) -> dict:
    """DiT overrides whose parameter count is closest to the U-Net's."""
    unet_params = count_parameters(build_family(unet_cfg, spec, torch.device("cpu")).net)
    best, best_gap = {}, float("inf")
    for depth, hidden, heads in DIT_SHAPES:
        overrides = {"depth": depth, "hidden": hidden, "heads": heads}
        cfg = ctx.config_for(FamilyName.DIT, dataset=MIRROR, resolution=unet_cfg.resolution)
        cfg = dataclasses.replace(cfg, model_overrides={**cfg.model_overrides, **overrides})
        gap = abs(count_parameters(build_family(cfg, spec, torch.device("cpu")).net) - unet_params)
        if gap < best_gap:
            best, best_gap = overrides, gap
    return best


# ------------------------------------------------------------------------------- C1 and C2


def mirror_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C1 and C2 from one set of runs: U-Net and a DiT of comparable size on ``mirror``."""
    cs = ctx.claims
    res = cs.mirror_resolution
    test = load_dataset(MIRROR, "test", resolution=res)
    spec = DataSpec(test.shape, test.num_classes)
    budget = {"max_minutes": cs.mirror_minutes, "max_images": None, "dataset": MIRROR}
    unet_cfg = ctx.config_for(FamilyName.UNET, resolution=res, **budget)
    dit_overrides = _matched_dit(ctx, unet_cfg, spec)
    per_seed: dict[str, list] = {"unet": [], "dit": []}
    for seed in cs.seeds:
        for name in (FamilyName.UNET, FamilyName.DIT):
            cfg = ctx.config_for(name, resolution=res, seed=seed, **budget)
            if name is FamilyName.DIT:
                cfg = dataclasses.replace(
                    cfg, model_overrides={**cfg.model_overrides, **dit_overrides}
                )
            ctx.log(f"  mirror {name.value} seed {seed} ({cs.mirror_minutes:g} min)")
            loaded, _ = ctx.train(cfg, _run_dir(ctx, MIRROR, name.value, seed))
            per_seed[name.value].append(_mirror_measure(ctx, loaded, test, seed))
    return _mirror_results(ctx, per_seed)


def _mirror_measure(ctx: ClaimContext, loaded: Loaded, test, seed: int) -> dict:
    cs = ctx.claims
    images, labels = _samples(ctx, loaded, cs.mirror_samples, seed)
    consistency = mirror_consistency(images, labels if loaded.data.num_classes else None)
    net = loaded.family.net
    probe = test[slice(0, RF_BATCH)].to(ctx.device)
    x, y = probe.images, probe.labels
    t = torch.full((RF_BATCH,), PROBE_TIMESTEP, device=ctx.device)
    noisy = x + 0.5 * torch.randn(x.shape, generator=ctx.generator(seed), device=ctx.device)
    field = receptive_field(lambda v: net(v, t, y), noisy)
    n = min(cs.mirror_samples, len(test))
    held_out = test[slice(0, n)].to(ctx.device)
    mse = denoising_mse(
        loaded.family, held_out.images, held_out.labels, generator=ctx.generator(1234)
    )
    return {
        "params": count_parameters(net),
        "consistency": consistency.scores,
        "erf_radius": erf_radius(field),
        "mse": mse.mean(axis=1),  # (N,) mean over the low noise levels
        "hf": hf_ratio(images, test.images[:n]).per_image,
    }


def _mirror_results(ctx: ClaimContext, per_seed: dict[str, list]) -> tuple[ClaimResult, ...]:
    """C1 and C2 decided on per-seed values (t over training seeds), per-sample values kept."""
    params = {f: rs[0]["params"] for f, rs in per_seed.items()}
    seeds, samples = len(per_seed["unet"]), ctx.claims.mirror_samples

    def per_sample(key: str) -> dict[str, list]:
        return {f: [r[key] for r in rs] for f, rs in per_seed.items()}

    c1 = claim_result(
        "C1",
        {
            "consistency": per_sample("consistency"),
            "erf_radius": {f: [r["erf_radius"] for r in rs] for f, rs in per_seed.items()},
        },
        n_seeds=seeds,
        n_samples=samples,
        details={"params": params, "minutes_per_run": ctx.claims.mirror_minutes},
    )
    c2 = claim_result(
        "C2",
        {"mse": per_sample("mse"), "hf": per_sample("hf")},
        n_seeds=seeds,
        n_samples=samples,
        details={"params": params, "dataset": f"{MIRROR} {ctx.claims.mirror_resolution} px"},
    )
    return c1, c2


# --------------------------------------------------------------------------------------- C3


def conditioning_claim(ctx: ClaimContext) -> ClaimResult:
    """C3: class accuracy of each DiT conditioning variant and the U-Net's AdaGN at equal budget,
    each trained once per seed; samples of one seed share labels and noise across variants."""
    ev, cs = ctx.evaluators, ctx.claims
    if ev.domain is None:
        return ClaimResult.not_run(CLAIMS["C3"], "needs a dataset with classes")
    correct: dict[str, list] = {}
    for seed in cs.seeds:
        budget = {"max_minutes": cs.variant_minutes, "max_images": None, "seed": seed}
        base = ctx.config_for(FamilyName.DIT, **budget)
        runs = conditioning_configs(base)
        runs.append(("U-Net AdaGN", ctx.config_for(FamilyName.UNET, **budget)))
        for variant, cfg in runs:
            ctx.log(f"  conditioning: {variant}, seed {seed} ({cs.variant_minutes:g} min)")
            loaded, _ = ctx.train(cfg, _run_dir(ctx, "conditioning", variant, seed))
            images, labels = _samples(ctx, loaded, cs.variant_samples, seed)
            hits = (ev.domain.predict(images) == labels).double().numpy()
            correct.setdefault(variant, []).append(hits)
    return claim_result(
        "C3",
        {"correct": correct, "second_condition": False},
        n_seeds=len(cs.seeds),
        n_samples=cs.variant_samples,
        details={
            "minutes_per_run": cs.variant_minutes,
            "measured": "one condition (the class label) through each injection",
            "second_condition": "not measured: DiT takes one class condition today",
        },
    )


# --------------------------------------------------------------------------------------- C5


def scaling_claim(ctx: ClaimContext) -> ClaimResult:
    """C5: domain FID∞ against GFLOPs per forward for DiT sizes trained on the same images."""
    ev, cs = ctx.evaluators, ctx.claims
    instrument = ev.domain_fid(cs.bootstrap)
    if ev.domain is None or instrument is None:
        return ClaimResult.not_run(CLAIMS["C5"], "needs a dataset with classes")
    base = ctx.config_for(FamilyName.DIT, max_minutes=None, max_images=cs.scaling_images)
    gflops, draws, rows = [], [], []
    for variant, cfg in dit_scaling_configs(base):
        ctx.log(f"  DiT scaling: {variant} ({cs.scaling_images} images)")
        loaded, _ = ctx.train(cfg, _run_dir(ctx, "scaling", variant.replace("×", "x")))
        images, _ = _samples(ctx, loaded, cs.variant_samples, ctx.compare.seed)
        d = instrument.draws(ev.domain.features(images))
        g = forward_flops(FamilyName.DIT, loaded.family) / 1e9
        gflops.append(g)
        draws.append(d.to_dict())
        params = count_parameters(loaded.family.net)
        rows.append(
            {"variant": variant, "gflops": g, "domain_fid": corrected(d)[0], "params": params}
        )
    fids = [r["domain_fid"] for r in rows]
    series = [
        Series(
            "DiT sizes", gflops, fids, "GFLOPs per forward", "domain FID∞ (lower is better)"
        ).to_dict()
    ]
    return claim_result(
        "C5",
        {"gflops": gflops, "fid": draws},
        n_seeds=1,
        n_samples=cs.variant_samples,
        details={"sizes": rows, "images_per_run": cs.scaling_images, "series": series},
    )


# ------------------------------------------------------------------------------ C8 and C11


def resolution_claims(ctx: ClaimContext) -> tuple[ClaimResult, ClaimResult]:
    """C8 and C11 from one grid of runs: every family at every resolution, equal minutes."""
    cs = ctx.claims
    if ctx.train_data.num_classes < 2:
        reason = "needs a dataset with classes (class accuracy is the quality measure)"
        return ClaimResult.not_run(CLAIMS["C8"], reason), ClaimResult.not_run(CLAIMS["C11"], reason)
    correct: dict[int, dict[str, np.ndarray]] = {}
    for res in cs.quality_resolutions:
        train = load_dataset(
            ctx.compare.dataset, "train", root=ctx.compare.data_root, resolution=res
        )
        test = load_dataset(ctx.compare.dataset, "test", root=ctx.compare.data_root, resolution=res)
        domain = DomainClassifier.train_or_load(
            train,
            test,
            ctx.cache_dir,
            seconds_budget=ctx.compare.domain_seconds,
            device=ctx.device,
        )
        correct[res] = {}
        for family in cs.resolution_families:
            name = FamilyName(family)
            for seed in cs.seeds:
                minutes = cs.resolution_minutes
                cfg = ctx.config_for(
                    name, resolution=res, max_minutes=minutes, max_images=None, seed=seed
                )
                ctx.log(f"  resolution {res} px: {family}, seed {seed} ({minutes:g} min)")
                loaded, _ = ctx.train(cfg, _run_dir(ctx, "resolution", res, family, seed))
                images, labels = _samples(ctx, loaded, cs.resolution_samples, seed)
                hits = (domain.predict(images) == labels).double().numpy()
                correct[res].setdefault(family, []).append(hits)
    seeds, samples = len(cs.seeds), cs.resolution_samples
    details = {"series": _accuracy_series(correct), "minutes_per_run": cs.resolution_minutes}
    lowest = correct[min(correct)]
    diffusion = "unet" if "unet" in lowest else "dit"
    if "ar" not in lowest or diffusion not in lowest:
        c8 = ClaimResult.not_run(CLAIMS["C8"], "needs the AR family and a diffusion family")
    else:
        evidence = {"correct": correct, "diffusion": diffusion}
        c8 = claim_result("C8", evidence, n_seeds=seeds, n_samples=samples, details=details)
    c11 = claim_result(
        "C11", {"correct": correct}, n_seeds=seeds, n_samples=samples, details=details
    )
    return c8, c11


def _accuracy_series(correct: dict[int, dict[str, list[np.ndarray]]]) -> list[dict]:
    series = []
    for family in next(iter(correct.values())):
        ests = [
            stats.proportion(family, np.concatenate(correct[r][family])) for r in sorted(correct)
        ]
        series.append(
            Series(
                family,
                sorted(correct),
                [e.value for e in ests],
                "resolution (px)",
                "class accuracy of samples",
                low=[e.low for e in ests],
                high=[e.high for e in ests],
                logy=False,
            ).to_dict()
        )
    return series
