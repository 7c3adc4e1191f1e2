"""The two splits every dataset offers, validated once at the edge."""

from __future__ import annotations

from typing import Literal, get_args

from trigen.errors import ConfigError

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)


def check_split(split: str) -> Split:
    """Return ``split`` if it is ``"train"`` or ``"test"``; raise ConfigError otherwise."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return split  # type: ignore[return-value]
