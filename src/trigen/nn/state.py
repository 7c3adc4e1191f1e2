"""Comparing a state dict with the one a network expects, before loading it strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class StateMismatch:
    """Sorted tensor names: ``missing`` from the given state, ``unexpected`` in it, and present
    in both but ``misshaped``. False when the state fits exactly."""

    missing: list[str]
    unexpected: list[str]
    misshaped: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def summary(self) -> str:
        """``"2 missing, 0 unexpected, 1 mis-shaped tensors, e.g. 'a.weight'"`` (when truthy)."""
        first = (self.missing or self.unexpected or self.misshaped)[0]
        return (
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.misshaped)} mis-shaped tensors, e.g. {first!r}"
        )


def state_mismatch(own: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> StateMismatch:
    """How ``given`` differs from a network's own state dict ``own`` in names and shapes."""
    return StateMismatch(
        missing=sorted(set(own) - set(given)),
        unexpected=sorted(set(given) - set(own)),
        misshaped=sorted(k for k in set(own) & set(given) if own[k].shape != given[k].shape),
    )
