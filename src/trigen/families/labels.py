"""Conditioning shared by every conditional family: the null class, label dropout, checks, and the
named conditions beside the class (:mod:`trigen.conditions`): their checks, dropout and guidance.

Classes are ``0 .. num_classes − 1``; the null (unconditional) class is ``num_classes``, the
extra embedding row that classifier-free guidance (Ho & Salimans 2022) trains by replacing a
label with it at probability ``dropout``. A model with ``num_classes == 0`` is unconditional
and sees only the null class (index 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from trigen.batch import NO_CONDITIONS, Batch
from trigen.conditions import (
    CLASS,
    ConditionDropout,
    ConditionSpec,
    Guidance,
    Guided,
    check_conditions,
    guided,
    on_device,
)
from trigen.errors import ConfigError, DataError
from trigen.guidance import NO_GUIDANCE
from trigen.rng import rand


@dataclass(frozen=True)
class ClassConditioning:
    """The conditioning rules of one model: ``num_classes`` (0 = no class condition), the training
    ``dropout`` in [0, 1) of the label and of each named condition, and the named ``conditions``."""

    num_classes: int
    dropout: float = 0.0
    conditions: tuple[ConditionSpec, ...] = ()

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

    @property
    def names(self) -> list[str]:
        """Every condition of the model, ``"class"`` first when it has one."""
        return ([CLASS] if self.num_classes else []) + [s.name for s in self.conditions]

    def train_inputs(
        self, batch: Batch, generator: torch.Generator | None, image_size: tuple[int, int]
    ) -> tuple[Tensor, Mapping[str, Tensor]]:
        """(labels, conds) a training step feeds the network: each dropped to its null on its
        own, and all together when the model has two or more conditions
        (:class:`~trigen.conditions.ConditionDropout`). A class-only model draws exactly what
        :meth:`drop` draws."""
        labels = self.drop(batch.labels, generator)
        conds = self.named(batch.conds, labels, image_size)
        joint = len(self.names) >= 2
        return ConditionDropout(self.dropout, joint).apply(
            labels, self.null_class, conds, generator
        )

    def named(
        self, conds: Mapping[str, Tensor] | None, labels: Tensor, image_size: tuple[int, int]
    ) -> Mapping[str, Tensor]:
        """The named conditions checked against the model's (an absent one is its null), on
        the device of ``labels``."""
        if not self.conditions and not conds:
            return NO_CONDITIONS
        checked = check_conditions(conds or {}, self.conditions, labels.shape[0], image_size)
        return on_device(checked, labels)

    def sampling_inputs(
        self, labels: Tensor, conds: Mapping[str, Tensor] | None, guidance: Guidance,
        image_size: tuple[int, int],
    ) -> tuple[Tensor, Mapping[str, Tensor]]:  # fmt: skip
        """Checked (labels, conds) for sampling with ``guidance``; guidance over a model with no
        condition at all, or over one it does not have, is a one-line ConfigError."""
        if guidance.active and not self.names:
            raise ConfigError(
                "guidance needs a conditional model; this one is unconditional: use cfg=1"
            )
        labels = self.check(labels, guidance.cfg if not self.conditions else NO_GUIDANCE)
        conds = self.named(conds, labels, image_size)
        guidance.branches(self.names)  # names every condition it guides, or raises
        return labels, conds

    def guided(
        self, fn: Callable[[Tensor, Tensor, Mapping[str, Tensor]], Tensor], labels: Tensor,
        conds: Mapping[str, Tensor], guidance: Guidance,
    ) -> Guided:  # fmt: skip
        """``fn(x, labels, conds)`` guided by ``guidance`` (:func:`trigen.conditions.guided`)."""
        return guided(fn, labels, conds, self.null_class if self.num_classes else 0, guidance)

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


class Conditioned:
    """A family conditioned on ``num_classes`` classes and the named ``conditions``, each dropped
    to its null with ``label_dropout`` in training: once the dataclass is made, ``conditions`` is
    a tuple and ``conditioning`` holds their rules."""

    num_classes: int
    label_dropout: float
    conditions: tuple[ConditionSpec, ...]
    conditioning: ClassConditioning

    def __post_init__(self) -> None:
        self.conditions = tuple(self.conditions)
        self.conditioning = ClassConditioning(self.num_classes, self.label_dropout, self.conditions)


@dataclass
class ConditionedImageFamily(Conditioned):
    """The fields of a family whose ``net`` models images ``image_shape`` (C, H, W) of
    ``num_classes`` classes and named ``conditions`` (the pixel AR and PixelCNN families)."""

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]
    label_dropout: float = 0.1
    conditions: tuple[ConditionSpec, ...] = ()  # named conditions besides the class
    conditioning: ClassConditioning = field(init=False, repr=False)
