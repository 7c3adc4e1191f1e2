"""The samples a family is measured on: its sampling settings and batched, seeded generation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from trigen.config import FamilyName
from trigen.families.base import Family, SampleSpec
from trigen.sampling import sample_chunks


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
    MaskGIT's steps are its decoding steps K). Choosing the settings' steps by name is a choice
    of config: the settings hold one step count per kind of sampler."""
    steps = settings.maskgit_steps if name is FamilyName.MASKGIT else settings.sampling_steps
    spec = SampleSpec(sampler=settings.sampler, steps=steps)
    return dataclasses.replace(spec, **changes)


def generate(
    family: Family,
    labels: Tensor,
    spec: SampleSpec,
    *,
    seed: int,
    batch: int,
    conds: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """uint8 images (N, C, H, W) for ``labels``: exactly the images ``trigen sample`` draws for
    the same checkpoint, seed, spec and batch size (each chunk seeded on its own,
    :func:`trigen.sampling.sample_chunks`)."""
    chunks = sample_chunks(family, labels, spec, seed=seed, batch_size=batch, conds=conds)
    return torch.cat([chunks[k] for k in sorted(chunks)]).permute(0, 3, 1, 2).contiguous().cpu()
