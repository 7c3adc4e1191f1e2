"""The studies of a comparison: quality vs NFE, guidance sweep, cost vs resolution, receptive
fields, and the variant studies (DiT conditioning and depth, U-Net flow matching vs diffusion)
that train one family's recipe several ways at equal budget."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from trigen.compare.settings import CompareSettings, Study
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.eval.cost import count_parameters
from trigen.eval.receptive_field import erf_radius
from trigen.measure.evaluators import Evaluators
from trigen.measure.probes import RF_BATCH, forward_flops, receptive_field_map
from trigen.measure.samples import generate, sample_spec
from trigen.measure.scaling import resolution_sweep
from trigen.measure.variants import conditioning_configs, dit_scaling_configs, objective_configs
from trigen.runs import Loaded
from trigen.sampling import class_labels

VARIANT_STUDIES: dict[Study, FamilyName] = {
    Study.CONDITIONING: FamilyName.DIT,
    Study.DIT_SCALING: FamilyName.DIT,
    Study.OBJECTIVE: FamilyName.UNET,
}
"""The variant studies and the family whose recipe (``compare.training.train_config``) each
varies."""


def nfe_study(runs: dict[FamilyName, Loaded], ev: Evaluators, s: CompareSettings) -> list[dict]:
    """Domain FID of every diffusion sampler at every step count, on ``s.study_samples`` images,
    for every family that takes a sampler (``sample_options``)."""
    rows = []
    for name, loaded in runs.items():
        if "sampler" not in loaded.family.sample_options(sample_spec(name, s)):
            continue
        labels = class_labels(loaded.data.num_classes, s.study_samples)
        for sampler in s.nfe_samplers:
            for steps in s.nfe_steps:
                spec = sample_spec(name, s, sampler=sampler, steps=steps)
                start = time.perf_counter()
                images = generate(
                    loaded.family, labels, spec, seed=s.seed, batch=s.sample_batch_size
                )
                rows.append(
                    {
                        "family": name.value,
                        "sampler": sampler,
                        "steps": steps,
                        "nfe": loaded.family.nfe(spec),
                        "seconds": time.perf_counter() - start,
                        **ev.domain_quality(images, labels),
                    }
                )
    return rows


def cfg_study(runs: dict[FamilyName, Loaded], ev: Evaluators, s: CompareSettings) -> list[dict]:
    """Domain FID and class accuracy against the guidance scale, for every conditional family."""
    rows = []
    for name, loaded in runs.items():
        if loaded.data.num_classes == 0:
            continue
        labels = class_labels(loaded.data.num_classes, s.study_samples)
        for scale in s.cfg_scales:
            spec = sample_spec(name, s, cfg=scale)
            images = generate(loaded.family, labels, spec, seed=s.seed, batch=s.sample_batch_size)
            rows.append({"family": name.value, "scale": scale, **ev.domain_quality(images, labels)})
    return rows


def resolution_study(
    runs: dict[FamilyName, Loaded], s: CompareSettings, device: torch.device
) -> list[dict]:
    """Peak memory and time of one training step and one sampling step of each family's preset,
    untrained, at each resolution (:func:`trigen.measure.scaling.resolution_sweep`: memory is the
    peak of tensor allocations, time a repeated median with its spread).

    Weights do not change the cost of a pass, so fresh networks of the same preset are measured.
    ``steps`` is the number of sampling steps per image (the sampler's NFE for diffusion, one per
    sub-pixel for AR): a whole image costs about ``steps × sample_step_s``.
    """
    rows = []
    for name, loaded in runs.items():
        c = loaded.data.image_shape[0]
        points = resolution_sweep(
            {name.value: loaded.config},
            s.resolutions,
            channels=c,
            num_classes=loaded.data.num_classes,
            device=device,
        )
        spec = sample_spec(name, s)
        for point in points:
            row = point.to_dict()
            if point.skipped is None:
                shape = (c, point.resolution, point.resolution)
                row["steps"] = loaded.family.nfe(spec, shape)
            rows.append(row)
    return rows


def receptive_field_maps(
    runs: dict[FamilyName, Loaded], test: ImageDataset
) -> dict[str, np.ndarray]:
    """|∂ output(centre) / ∂ input| of each trained network on test images, for every family
    that offers a probe (``receptive_field_probe``)."""
    maps = {}
    for name, loaded in runs.items():
        device = next(loaded.family.net.parameters()).device
        probe = test[slice(0, RF_BATCH)]
        images, labels = probe.images.to(device), probe.labels.to(device)
        field = receptive_field_map(loaded.family, images, labels)
        if field is not None:
            maps[name.value] = field
    return maps


def receptive_field_radii(maps: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A number for each map: the radius (px) holding 50 % and 90 % of the gradient mass."""
    return [
        {
            "family": name,
            "radius_50_px": erf_radius(field, mass=0.5),
            "radius_90_px": erf_radius(field, mass=0.9),
            "grid": "×".join(map(str, field.shape)),
        }
        for name, field in maps.items()
    ]


def variant_configs(base: TrainConfig, study: str) -> list[tuple[str, TrainConfig]]:
    """The runs of a variant study at equal budget: the DiT conditioning or depth-scaling
    study, or the objective study (flow matching vs diffusion) of ``base``'s family."""
    if study == Study.OBJECTIVE:
        return objective_configs(base)
    if study == Study.CONDITIONING:
        return conditioning_configs(base)
    return dit_scaling_configs(base)


def variant_row(
    variant: str, loaded: Loaded, final_loss: float, ev: Evaluators, s: CompareSettings
) -> dict[str, Any]:
    family = loaded.config.family
    labels = class_labels(loaded.data.num_classes, s.study_samples)
    images = generate(
        loaded.family, labels, sample_spec(family, s), seed=s.seed, batch=s.sample_batch_size
    )
    return {
        "variant": variant,
        "params": count_parameters(loaded.family.net),
        "gflops_per_forward": forward_flops(loaded.family) / 1e9,
        "final_loss": final_loss,
        **ev.domain_quality(images, labels),  # with its sample count
    }
