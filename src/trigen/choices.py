"""Closed choices: a name read from a config or the command line, validated once into its Enum."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from trigen.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


def parse_choice(kind: type[E], value: E | str, what: str) -> E:
    """``value`` as a member of ``kind``; a ConfigError naming ``what`` and the valid values
    otherwise (e.g. ``parse_choice(Sampler, "ddim", "sampler")``)."""
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise ConfigError(f"unknown {what} {value!r}; choose one of: {valid}") from None
