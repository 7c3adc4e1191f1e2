"""Size presets and field checks shared by every model config dataclass.

A model config is a frozen dataclass beside its model; its presets are a dict ``name → fields``
(DiT's ``DiT_models`` in spirit). :func:`from_preset` is the one way a config is built from a
preset, the data's own fields and user overrides; :func:`check_field_types` is the one type check
of a config's fields (called first in each ``__post_init__``), so a config only states the rules
that are its own (divisibility, ranges).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from trigen.choices import parse_choice
from trigen.errors import ConfigError

C = TypeVar("C")


def preset_fields(presets: Mapping[str, Mapping[str, Any]], name: str, what: str) -> dict:
    """A copy of preset ``name``'s fields; a ConfigError listing the valid names otherwise."""
    if name not in presets:
        raise ConfigError(f"unknown {what} preset {name!r}; valid: {', '.join(presets)}")
    return dict(presets[name])


def from_preset(
    cls: type[C],
    fields: Mapping[str, Any],
    *,
    data: Mapping[str, Any],
    overrides: Mapping[str, Any],
    what: str,
) -> C:
    """``cls(**fields, **overrides, **data)``: a preset's ``fields``, the user's ``overrides``
    (any field of ``cls`` except those the ``data`` sets) and the data's shape fields."""
    allowed = {f.name for f in dataclasses.fields(cls)} - set(data)  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ConfigError(f"cannot override {what} field(s) {unknown}; valid: {sorted(allowed)}")
    return cls(**{**fields, **overrides, **data})


def check_field_types(config: Any, what: str) -> None:
    """Check every field of the dataclass ``config`` against its annotation, in place.

    int fields take ints (not bools), float fields ints or floats (stored as float), bool fields
    bools, StrEnum fields their values (parsed to the member), tuple fields any sequence of the
    element type (stored as a tuple); ``X | None`` admits None. A frozen dataclass is updated
    through ``object.__setattr__``.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        checked = _checked(value, hints[field.name], f"{what} {field.name}")
        if checked is not value:
            object.__setattr__(config, field.name, checked)


def _checked(value: Any, hint: Any, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return value
        (hint,) = [a for a in args if a is not type(None)]
        return _checked(value, hint, name)
    if origin is tuple:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise ConfigError(f"{name} must be a sequence, got {value!r}")
        items = tuple(value)
        kinds = [args[0]] * len(items) if args[-1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ConfigError(f"{name} must have {len(kinds)} entries, got {value!r}")
        return tuple(_checked(v, k, name) for v, k in zip(items, kinds, strict=True))
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return parse_choice(hint, value, name)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return value if isinstance(value, float) else float(value)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value
