"""The samples a family is measured on: its sampling settings and batched, seeded generation."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import torch
from torch import Tensor

from trigen.config import FamilyName
from trigen.data.transforms import from_model_range
from trigen.families.base import Family, SampleSpec


class SamplingSettings(Protocol):
    """The sampling settings of a measurement (``trigen.compare``'s settings give them)."""

    @property
    def sampler(self) -> str: ...
    @property
    def sampling_steps(self) -> int: ...
    @property
    def maskgit_steps(self) -> int: ...


def sample_spec(name: FamilyName, settings: SamplingSettings, **changes: Any) -> SampleSpec:
    """The sampling settings a family is measured with (autoregressive families ignore sampler;
    MaskGIT's steps are its decoding steps K)."""
    steps = settings.maskgit_steps if name is FamilyName.MASKGIT else settings.sampling_steps
    spec = SampleSpec(sampler=settings.sampler, steps=steps)
    return dataclasses.replace(spec, **changes)


def generate(family: Family, labels: Tensor, spec: SampleSpec, *, seed: int, batch: int) -> Tensor:
    """uint8 images (N, C, H, W) for ``labels``, batched, deterministic given ``seed``."""
    device = next(family.net.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    out = []
    with torch.inference_mode():
        for chunk in labels.split(batch):
            x = family.sample(chunk.to(device), spec, gen)
            out.append(from_model_range(x).cpu())
    return torch.cat(out)


def has_likelihood(family: Family) -> bool:
    """Whether ``family.nll`` measures a likelihood or a bound on it (families say so with
    ``has_likelihood``; those without the attribute always do)."""
    return getattr(family, "has_likelihood", True)
