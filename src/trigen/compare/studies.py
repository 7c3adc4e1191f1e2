"""The scaling study: quality vs NFE, guidance sweep, cost vs resolution, receptive fields."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from trigen.api import Loaded
from trigen.build import DataSpec, build_family
from trigen.compare.evaluators import Evaluators
from trigen.compare.measure import DIFFUSION, MIB, cycling_labels, generate, nfe_of, sample_spec
from trigen.compare.settings import CompareSettings
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.errors import TrigenError
from trigen.eval.cost import count_parameters, peak_memory
from trigen.eval.receptive_field import ar_receptive_field, receptive_field

RF_TIMESTEP = 500.0  # the diffusion timestep at which receptive fields are probed (mid-schedule)
RF_BATCH = 8


def nfe_study(runs: dict[FamilyName, Loaded], ev: Evaluators, s: CompareSettings) -> list[dict]:
    """Domain FID of every diffusion sampler at every step count, on ``s.study_samples`` images."""
    rows = []
    for name, loaded in runs.items():
        if name not in DIFFUSION:
            continue
        labels = cycling_labels(s.study_samples, loaded.data.num_classes)
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
                        "nfe": nfe_of(name, spec, 0),
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
        labels = cycling_labels(s.study_samples, loaded.data.num_classes)
        for scale in s.cfg_scales:
            spec = sample_spec(name, s, cfg=scale)
            images = generate(loaded.family, labels, spec, seed=s.seed, batch=s.sample_batch_size)
            rows.append({"family": name.value, "scale": scale, **ev.domain_quality(images, labels)})
    return rows


def resolution_study(
    runs: dict[FamilyName, Loaded], s: CompareSettings, device: torch.device
) -> list[dict]:
    """Sampling latency and peak memory of each family's preset, untrained, at each resolution.

    Weights do not change the cost of a forward pass, so fresh networks of the same preset are
    timed; AR steps grow with the number of pixels, diffusion steps stay at the sampler's count.
    """
    rows = []
    batch = 4
    for name, loaded in runs.items():
        c = loaded.data.image_shape[0]
        for res in s.resolutions:
            cfg = dataclasses.replace(loaded.config, resolution=res)
            try:
                family = build_family(cfg, DataSpec((c, res, res), loaded.data.num_classes), device)
            except TrigenError as err:  # e.g. the patch size does not divide the resolution
                rows.append({"family": name.value, "resolution": res, "error": str(err)})
                continue
            family.net.eval()
            spec = sample_spec(name, s)
            labels = cycling_labels(batch, loaded.data.num_classes)
            generate(family, labels[:1], spec, seed=0, batch=1)  # warm-up
            start = time.perf_counter()
            mem = peak_memory(
                lambda f=family, sp=spec, y=labels: generate(f, y, sp, seed=0, batch=batch), device
            )
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "family": name.value,
                    "resolution": res,
                    "tokens": c * res * res,
                    "steps": nfe_of(name, spec, c * res * res),
                    "params": count_parameters(family.net),
                    "latency_s_per_image": seconds / batch,
                    "peak_memory_mb": mem.added_bytes / MIB,  # added above the process baseline
                }
            )
    return rows


def receptive_field_maps(
    runs: dict[FamilyName, Loaded], test: ImageDataset
) -> dict[str, np.ndarray]:
    """|∂ output(centre) / ∂ input| of each trained network on test images."""
    maps = {}
    for name, loaded in runs.items():
        net = loaded.family.net
        device = next(net.parameters()).device
        images, labels = test[slice(0, RF_BATCH)]
        images, labels = images.to(device), labels.to(device)
        if name in DIFFUSION:
            t = torch.full((RF_BATCH,), RF_TIMESTEP, device=device)
            noisy = images + 0.5 * torch.randn_like(images)
            maps[name.value] = receptive_field(lambda x, n=net, tt=t, y=labels: n(x, tt, y), noisy)
        elif name is FamilyName.AR:
            from trigen.autoregressive.pixels import images_to_tokens

            maps[name.value] = ar_receptive_field(net, images_to_tokens(images), labels)
        elif name is FamilyName.PIXELCNN:
            maps[name.value] = receptive_field(lambda x, n=net, y=labels: n(x, y), images)
    return maps


def variant_configs(base: TrainConfig, study: str) -> list[tuple[str, TrainConfig]]:
    """The DiT runs of the conditioning or the depth-scaling study, at equal budget."""
    if study == "conditioning":
        from trigen.models.dit import Conditioning

        return [
            (
                v.value,
                dataclasses.replace(
                    base,
                    family=FamilyName.DIT,
                    model="DiT-T/4",
                    model_overrides={**base.model_overrides, "conditioning": v.value},
                ),
            )
            for v in Conditioning
        ]
    sizes = {
        "depth 3 × 96": {"depth": 3, "hidden": 96, "heads": 2},
        "depth 6 × 128": {"depth": 6, "hidden": 128, "heads": 2},
        "depth 8 × 192": {"depth": 8, "hidden": 192, "heads": 3},
    }
    return [
        (
            k,
            dataclasses.replace(
                base,
                family=FamilyName.DIT,
                model="DiT-T/4",
                model_overrides={**base.model_overrides, **v},  # the recipe's RoPE stays
            ),
        )
        for k, v in sizes.items()
    ]


def variant_row(
    variant: str, loaded: Loaded, final_loss: float, ev: Evaluators, s: CompareSettings
) -> dict[str, Any]:
    from trigen.compare.measure import forward_flops

    labels = cycling_labels(s.study_samples, loaded.data.num_classes)
    images = generate(
        loaded.family,
        labels,
        sample_spec(FamilyName.DIT, s),
        seed=s.seed,
        batch=s.sample_batch_size,
    )
    return {
        "variant": variant,
        "params": count_parameters(loaded.family.net),
        "gflops_per_forward": forward_flops(FamilyName.DIT, loaded.family) / 1e9,
        "final_loss": final_loss,
        **ev.domain_quality(images, labels),
    }
