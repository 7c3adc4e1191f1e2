"""Class conditioning shared by every conditional family: the null class, label dropout, checks.

Classes are ``0 .. num_classes − 1``; the null (unconditional) class is ``num_classes``, the
extra embedding row that classifier-free guidance (Ho & Salimans 2022) trains by replacing a
label with it at probability ``dropout``. A model with ``num_classes == 0`` is unconditional
and sees only the null class (index 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from trigen.diffusion._rng import rand
from trigen.errors import ConfigError, DataError
from trigen.guidance import NO_GUIDANCE


@dataclass(frozen=True)
class ClassConditioning:
    """The class-label rules of one model: ``num_classes`` (0 = unconditional) and the training
    label ``dropout`` in [0, 1)."""

    num_classes: int
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.num_classes < 0:
            raise ConfigError(
                f"num_classes must be ≥ 0 (0 = unconditional), got {self.num_classes}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"label_dropout must be in [0, 1), got {self.dropout}")

    @property
    def null_class(self) -> int:
        return self.num_classes

    def check(self, labels: Tensor, cfg: float = NO_GUIDANCE) -> Tensor:
        """Labels (B,) int64 a model can be given: integer class indices in ``0..num_classes``
        (the last is the null class); an unconditional model gets the null class throughout and
        refuses guidance (it has no conditional half to extrapolate from)."""
        if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise DataError(
                f"labels must be a 1-D tensor of integer class indices, "
                f"got {labels.dtype} {tuple(labels.shape)}"
            )
        if self.num_classes == 0:
            if cfg != NO_GUIDANCE:
                raise ConfigError(
                    f"cfg={cfg} needs a class-conditional model; this one is unconditional "
                    f"(num_classes 0): use cfg={NO_GUIDANCE}"
                )
            return torch.full_like(labels, self.null_class, dtype=torch.long)
        if labels.numel() and (labels.min() < 0 or labels.max() > self.num_classes):
            raise DataError(
                f"labels must be in 0..{self.num_classes} ({self.num_classes} = null class), "
                f"got {int(labels.min())}..{int(labels.max())}"
            )
        return labels.long()

    def drop(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Checked training labels (B,), each replaced by the null class with probability
        ``dropout`` (all of them for an unconditional model). One uniform per label is drawn
        from ``generator`` (on the generator's own device, whatever device the labels are on)
        iff the model is conditional and ``dropout > 0``."""
        labels = self.check(labels)
        if self.num_classes == 0 or self.dropout == 0:
            return labels
        dropped = rand(labels.shape[0], labels, generator) < self.dropout
        return torch.where(dropped, torch.full_like(labels, self.null_class), labels)
