"""Conditions beyond the class label: what each one is, its null, its dropout, guidance over them.

A model is conditioned on its class label (:mod:`trigen.families.labels`, null = the extra class
index) and on a set of **named conditions**, each of a kind:

- ``vector``: a fixed-length float vector (B, K), e.g. measured attributes, normalised;
- ``map``: a spatial image (B, C, H, W) in [-1, 1] aligned with the output, e.g. a skeleton;
- ``tokens``: a token sequence (B, L) int64, e.g. a caption's token ids, padded with ``PAD``.

**A condition is data with a null.** A row of NaN marks a float condition's null, a row of
``PAD`` only (the empty caption) a token condition's, as the class index ``num_classes`` marks the
null class: the network replaces it by the condition's own null (a learned embedding for a vector
or a caption, the zero map for a map — real maps are ±1, so zero is no real map). Training drops
each condition on its own with the run's dropout and, when a model has two or more conditions, all
of them together at the same rate, so every branch of guidance below is trained (InstructPix2Pix
drops each condition and both).

**Guidance** over several conditions is nested (InstructPix2Pix §3.3; composable guidance): with
groups g₁…g_K and scales s₁…s_K, branch e_k has the groups up to k on and the rest null, and the
guided output is ``e₀ + Σ_k s_k · (e_k − e_{k−1})``. All scales 1 give e_K, the conditional output;
one group is classifier-free guidance. ``cfg`` alone guides all conditions as one group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from trigen.batch import NO_CONDITIONS
from trigen.errors import ConfigError, DataError
from trigen.guidance import NO_GUIDANCE, classifier_free_guidance
from trigen.rng import rand

CLASS = "class"
"""The name of the class-label condition in guidance groups."""
PAD = -1
"""The padding token id of a token condition; a row of PAD only is its null (the empty text)."""


class ConditionKind(StrEnum):
    """What a condition's values are (module docstring)."""

    VECTOR = "vector"
    MAP = "map"
    TOKENS = "tokens"


@dataclass(frozen=True)
class ConditionSpec:
    """One named condition of a model. ``size``: a vector's length, a map's channels, a token's
    width. A vector's ``fields`` name its entries; ``mean`` and ``std`` are the normalisation the
    run was trained with (a value given to the model is ``(raw − mean) / std``), stored so a
    sampler can take raw values (``thickness=3.5``). A token condition's ``size`` is its context
    length L; ``encoder`` names its text encoder and ``vocabulary`` holds a learned tokenizer's
    words (:mod:`trigen.text`)."""

    name: str
    kind: ConditionKind
    size: int
    fields: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    encoder: str = ""
    vocabulary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ConditionKind(self.kind))
        for name in ("fields", "mean", "std", "vocabulary"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.name or self.name == CLASS or not self.name.isidentifier():
            raise ConfigError(f"a condition needs a name other than {CLASS!r}, got {self.name!r}")
        if self.size < 1:
            raise ConfigError(f"condition {self.name}: size must be ≥ 1, got {self.size}")
        for name in ("fields", "mean", "std"):
            if getattr(self, name) and len(getattr(self, name)) != self.size:
                raise ConfigError(f"condition {self.name}: {name} needs {self.size} entries")
        if any(not (math.isfinite(s) and s > 0) for s in self.std):
            raise ConfigError(f"condition {self.name}: std must be positive, got {self.std}")

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw vector values (…, K) → what the model reads; identity without stored statistics."""
        if not self.mean:
            return raw.float()
        mean, std = raw.new_tensor(self.mean).float(), raw.new_tensor(self.std).float()
        return (raw.float() - mean) / std

    def raw(self, normalised: Tensor) -> Tensor:
        """The inverse of :meth:`normalise`."""
        if not self.mean:
            return normalised
        mean, std = normalised.new_tensor(self.mean), normalised.new_tensor(self.std)
        return normalised * std + mean

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "size": self.size,
            "fields": list(self.fields),
            "mean": list(self.mean),
            "std": list(self.std),
            **({"encoder": self.encoder} if self.encoder else {}),
            **({"vocabulary": list(self.vocabulary)} if self.vocabulary else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionSpec:
        return cls(
            str(data["name"]),
            ConditionKind(data["kind"]),
            int(data["size"]),
            tuple(data.get("fields", ())),
            tuple(float(v) for v in data.get("mean", ())),
            tuple(float(v) for v in data.get("std", ())),
            str(data.get("encoder", "")),
            tuple(data.get("vocabulary", ())),
        )


def is_null(value: Tensor) -> Tensor:
    """Which rows (B,) of a condition's values are its null (a row of NaN; tokens: PAD only)."""
    rows = value.reshape(value.shape[0], -1)
    if not value.dtype.is_floating_point:
        return (rows == PAD).all(dim=1)
    return torch.isnan(rows).any(dim=1)


def null_like(value: Tensor) -> Tensor:
    """The null of every row of ``value``."""
    return torch.full_like(value, math.nan if value.dtype.is_floating_point else PAD)


def finite_or(value: Tensor, null: float = 0.0) -> Tensor:
    """``value`` with NaN (null) entries replaced by ``null``: the input a layer can read."""
    return torch.nan_to_num(value, nan=null)


def check_conditions(
    conds: Mapping[str, Tensor], specs: Sequence[ConditionSpec], batch: int,
    image_size: tuple[int, int] | None = None,
) -> Mapping[str, Tensor]:  # fmt: skip
    """``conds`` checked against a model's ``specs`` (names, kinds, shapes), as float tensors.

    A condition the model was trained with but not given is its null (unconditional along it);
    one it was not trained with, a wrong length, size or channel count is a one-line DataError.
    """
    known = {spec.name: spec for spec in specs}
    unknown = sorted(set(conds) - set(known))
    if unknown:
        trained = ", ".join(known) or "no condition besides the class label"
        raise DataError(
            f"the model was not trained with condition {unknown[0]!r}; it knows {trained}"
        )
    checked: dict[str, Tensor] = {}
    for spec in specs:
        value = conds.get(spec.name)
        if spec.kind is ConditionKind.VECTOR:
            expected: tuple[int, ...] = (batch, spec.size)
        elif spec.kind is ConditionKind.MAP:
            if value is None and image_size is None:
                raise DataError(f"condition {spec.name}: a map needs the image size for its null")
            size = image_size if value is None else tuple(value.shape[-2:])
            expected = (batch, spec.size, *size)
            if image_size is not None and tuple(size) != tuple(image_size):
                raise DataError(
                    f"map {spec.name} is {size[0]}×{size[1]}, the model makes "
                    f"{image_size[0]}×{image_size[1]} images"
                )
        else:
            expected = (batch, spec.size)
        tokens = spec.kind is ConditionKind.TOKENS
        if value is None:
            checked[spec.name] = torch.full(expected, PAD if tokens else math.nan)
            continue
        if tuple(value.shape) != expected or value.dtype.is_floating_point == tokens:
            kind = "int64 token ids" if tokens else "float"
            raise DataError(
                f"condition {spec.name} ({spec.kind.value}) must be {kind} {expected}, "
                f"got {value.dtype} {tuple(value.shape)}"
            )
        checked[spec.name] = value.long() if tokens else value
    return MappingProxyType(checked) if checked else NO_CONDITIONS


def on_device(conds: Mapping[str, Tensor], like: Tensor) -> Mapping[str, Tensor]:
    """``conds`` on ``like``'s device (a null made without a device starts on the CPU)."""
    if not conds:
        return NO_CONDITIONS
    return MappingProxyType({k: v.to(like.device) for k, v in conds.items()})


@dataclass(frozen=True)
class ConditionDropout:
    """Training dropout of a model's named conditions: each on its own with probability
    ``rate``, and (``joint``) all of them together, the class label included, at the same rate."""

    rate: float
    joint: bool

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ConfigError(f"condition dropout must be in [0, 1), got {self.rate}")

    def apply(
        self, labels: Tensor, null_class: int, conds: Mapping[str, Tensor],
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Mapping[str, Tensor]]:  # fmt: skip
        """(labels, conds) with dropped rows made null. Draws nothing without named conditions or
        with rate 0 (a class-only model's random stream is unchanged); else one uniform per row
        per condition in name order, then one per row for the joint drop."""
        if not conds or self.rate == 0:
            return labels, conds
        out = {}
        for name in sorted(conds):
            value = conds[name]
            dropped = rand(value.shape[0], value, generator) < self.rate
            out[name] = _null_rows(value, dropped)
        if self.joint:
            together = rand(labels.shape[0], labels, generator) < self.rate
            labels = torch.where(together, torch.full_like(labels, null_class), labels)
            out = {name: _null_rows(value, together) for name, value in out.items()}
        return labels, MappingProxyType(out)


def _null_rows(value: Tensor, rows: Tensor) -> Tensor:
    mask = rows.view((-1,) + (1,) * (value.ndim - 1)).to(value.device)
    return torch.where(mask, null_like(value), value)


# --------------------------------------------------------------------------------- guidance
@dataclass(frozen=True)
class Guidance:
    """Guidance over a model's conditions: ``cfg`` guides all of them as one group (plain
    classifier-free guidance), or ``scales`` names conditions (``"class"`` included) with a scale
    each, nested in the given order; a condition named nowhere stays on in every branch."""

    cfg: float = NO_GUIDANCE
    scales: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", tuple((str(n), float(s)) for n, s in self.scales))
        if self.scales and self.cfg != NO_GUIDANCE:
            raise ConfigError("give either cfg (all conditions together) or per-condition scales")
        names = [name for name, _ in self.scales]
        if len(set(names)) != len(names):
            raise ConfigError(f"guidance names a condition twice: {names}")

    @property
    def active(self) -> bool:
        return self.cfg != NO_GUIDANCE or any(s != NO_GUIDANCE for _, s in self.scales)

    def groups(self, names: Sequence[str]) -> list[tuple[frozenset[str], float]]:
        if not self.scales:
            return [(frozenset(names), self.cfg)] if names else []
        missing = sorted({name for name, _ in self.scales} - set(names))
        if missing:
            raise ConfigError(
                f"guidance names condition {missing[0]!r}; the model has "
                f"{', '.join(sorted(names)) or 'no condition'}"
            )
        return [(frozenset([name]), scale) for name, scale in self.scales]

    def branches(self, names: Sequence[str]) -> list[tuple[frozenset[str], float]]:
        """(conditions on, weight) of each network evaluation for a model with conditions
        ``names``; the guided output is the weighted sum. Without guidance: one branch,
        everything on, weight 1."""
        groups = self.groups(names)
        if not any(scale != NO_GUIDANCE for _, scale in groups):
            return [(frozenset(names), 1.0)]
        on = frozenset(names).difference(*(group for group, _ in groups))  # always on
        levels, weights = [on], [1.0]  # e₀ with weight 1, then + s_k·(e_k − e_{k−1})
        for group, scale in groups:
            on = on | group
            levels.append(on)
            weights[-1] -= scale
            weights.append(scale)
        plan = [(level, w) for level, w in zip(levels, weights, strict=True) if w != 0.0]
        return plan[::-1]  # the fully conditional branch first (cond ‖ uncond, as ever)


class Guided:
    """``g(x)``: the guided output of ``fn`` at x; ``branches`` copies of the batch per call."""

    def __init__(self, run: Callable[[Tensor], Tensor], branches: int) -> None:
        self.run, self.branches = run, branches

    def __call__(self, x: Tensor) -> Tensor:
        return self.run(x)


def guided(
    fn: Callable[[Tensor, Tensor, Mapping[str, Tensor]], Tensor],
    labels: Tensor,
    conds: Mapping[str, Tensor],
    null_class: int,
    guidance: Guidance,
) -> Guided:
    """Wrap ``fn(x, labels, conds) → out`` into ``g(x) → guided out``: one batched forward over the
    branches of ``guidance`` (branch-major), weighted and summed. ``null_class`` 0 means the
    model has no class condition. With one condition and scale s this is exactly
    ``uncond + s · (cond − uncond)`` (:func:`trigen.guidance.classifier_free_guidance`)."""
    names = ([CLASS] if null_class > 0 else []) + list(conds)
    plan = guidance.branches(names)
    if len(plan) == 1 and plan[0][1] == 1.0 and plan[0][0] == frozenset(names):
        return Guided(lambda x: fn(x, labels, conds), 1)
    all_labels = torch.cat(
        [labels if CLASS in on else torch.full_like(labels, null_class) for on, _ in plan]
    )
    all_conds = {
        name: torch.cat([value if name in on else null_like(value) for on, _ in plan])
        for name, value in conds.items()
    }
    weights = [w for _, w in plan]

    def run(x: Tensor) -> Tensor:
        outs = fn(torch.cat([x] * len(plan)), all_labels, all_conds).chunk(len(plan))
        if len(plan) == 2 and weights[1] == 1.0 - weights[0]:  # e₁ ‖ e₀: plain cfg
            return classifier_free_guidance(outs[0], outs[1], weights[0])
        total = outs[0] * weights[0]
        for out, weight in zip(outs[1:], weights[1:], strict=True):
            total = total + out * weight
        return total

    return Guided(run, len(plan))
