"""The unit of data every family consumes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import torch
from torch import Tensor

NO_CONDITIONS: Mapping[str, Tensor] = MappingProxyType({})
"""The conditions of a batch conditioned on its class label only (or on nothing)."""


class Batch(NamedTuple):
    """Images in [-1, 1] as float (B, C, H, W), class indices (B,) as int64, and the batch's other
    conditions by name (:mod:`trigen.conditions`): a vector condition float (B, K), a map
    condition float (B, C', H, W) in [-1, 1]; a row of NaN marks a condition's null."""

    images: Tensor
    labels: Tensor
    conds: Mapping[str, Tensor] = NO_CONDITIONS

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch with every tensor on ``device``."""
        conds = {k: v.to(device, non_blocking=non_blocking) for k, v in self.conds.items()}
        return Batch(
            self.images.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            MappingProxyType(conds) if conds else NO_CONDITIONS,
        )
