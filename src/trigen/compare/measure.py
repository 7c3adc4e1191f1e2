"""Measurements of one trained family: samples, quality, likelihood and cost."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trigen.compare.settings import CompareSettings
from trigen.data.datasets import ImageDataset
from trigen.eval.cost import count_flops, count_parameters
from trigen.eval.likelihood import evaluate_nll
from trigen.eval.memory import peak_allocated_bytes
from trigen.families.base import Family
from trigen.measure.evaluators import Evaluators
from trigen.measure.probes import forward_flops
from trigen.measure.samples import generate, sample_spec
from trigen.runs import Loaded
from trigen.sampling import class_labels

MIB = 2**20
GRID_PER_CLASS = 8


def grid_images(images: Tensor, labels: Tensor, num_classes: int) -> np.ndarray:
    """Up to GRID_PER_CLASS images of each class, one row per class: uint8 (N, H, W, C)."""
    picked = []
    for c in range(max(num_classes, 1)):
        idx = (
            (labels == c).nonzero().flatten()[:GRID_PER_CLASS]
            if num_classes
            else torch.arange(min(len(images), GRID_PER_CLASS * 4))
        )
        picked.append(images[idx])
    return torch.cat(picked).permute(0, 2, 3, 1).numpy()


def measure_family(
    loaded: Loaded,
    train_summary: dict[str, Any],
    test: ImageDataset,
    evaluators: Evaluators,
    settings: CompareSettings,
) -> tuple[dict[str, Any], np.ndarray]:
    """Headline numbers of one trained family, and its sample grid (N, H, W, C)."""
    family = loaded.family.with_nll_timesteps(settings.elbo_timesteps)
    spec = sample_spec(loaded.config.family, settings)
    num_classes = loaded.data.num_classes
    labels = class_labels(num_classes, settings.fid_samples)
    device = next(family.net.parameters()).device

    start = time.perf_counter()
    images = generate(family, labels, spec, seed=settings.seed, batch=settings.sample_batch_size)
    seconds = time.perf_counter() - start
    # peak tensor memory of one sampling call at the sampling batch, counted allocation by
    # allocation (the process RSS would show the allocator's cache, not this call)
    first = labels[: settings.sample_batch_size].to(device)
    with torch.inference_mode():
        memory_bytes = peak_allocated_bytes(
            lambda: family.sample(first, spec, torch.Generator(device).manual_seed(0))
        )

    one = labels[:1].to(device)
    sample_flops = count_flops(
        lambda: family.sample(one, spec, torch.Generator(device).manual_seed(0))
    )
    record_nll = likelihood_record(family, test, settings)
    record = {
        "preset": loaded.config.preset,
        "model_overrides": dict(loaded.config.model_overrides),  # e.g. rope / positions
        "params": count_parameters(family.net),
        "train": train_summary,
        "sampling": {
            "sampler": family.sampler_description(spec),
            "steps": family.sampling_steps(spec),
            "nfe": family.nfe(spec),
            "batch_size": settings.sample_batch_size,
            "latency_s_per_image": seconds / len(images),
            "throughput_images_per_s": len(images) / seconds,
            "peak_memory_mb": memory_bytes / MIB,  # tensors of one call of ``batch_size``
        },
        "cost": {
            "flops_per_forward": forward_flops(family),
            "flops_per_sample": sample_flops,
        },
        "quality": evaluators.quality(images, labels),
        "nll": record_nll,
    }
    return record, grid_images(images, labels, num_classes)


def likelihood_record(
    family: Family, test: ImageDataset, settings: CompareSettings
) -> dict[str, Any]:
    """Bits/dim of the test images and what kind of number it is (``family.likelihood``: exact,
    a bound, token NLL); none for a family whose ``nll`` gives no number (flow matching,
    latent diffusion)."""
    likelihood = family.likelihood
    if not likelihood.exists:
        return {"bits_per_dim": None, "nats_per_image": None, "images": 0, "kind": likelihood.kind}
    device = next(family.net.parameters()).device
    nll = evaluate_nll(
        family,
        test,
        max_images=settings.nll_images,
        generator=torch.Generator(device).manual_seed(settings.seed),
    )
    return {
        "bits_per_dim": nll.bits_per_dim,
        "nats_per_image": nll.nats_per_image,
        "images": nll.num_images,
        "kind": likelihood.kind,
    }
