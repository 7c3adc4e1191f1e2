"""Exact state-dict translation between trigen and a peer layout, both ways, from one name table.

A table is a list of ``(ours, theirs)`` module prefixes for one-to-one tensors and of
``(ours, (q, k, v))`` for trigen's fused ``qkv`` against three separate projections. One trigen
prefix may appear with several peer prefixes (diffusers' DiT repeats the timestep and label
embedders in every block); reading back, those copies must agree exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from trigen.errors import CheckpointError
from trigen.nn.state import state_mismatch

SUFFIXES = ("weight", "bias")

Pairs = Sequence[tuple[str, str]]
QkvPairs = Sequence[tuple[str, tuple[str, str, str]]]


def to_theirs(ours: Mapping[str, Tensor], pairs: Pairs, qkv: QkvPairs) -> dict[str, Tensor]:
    """Peer-named copy of trigen's ``ours``: every tensor under a listed prefix, q/k/v split."""
    out: dict[str, Tensor] = {}
    for a, b in pairs:
        for s in SUFFIXES:
            if f"{a}.{s}" in ours:
                out[f"{b}.{s}"] = ours[f"{a}.{s}"].clone()
    for a, names in qkv:
        for s in SUFFIXES:
            if f"{a}.{s}" in ours:
                for name, part in zip(names, ours[f"{a}.{s}"].chunk(3, dim=0), strict=True):
                    out[f"{name}.{s}"] = part.clone()
    return out


def to_ours(
    theirs: Mapping[str, Tensor], pairs: Pairs, qkv: QkvPairs, source: str
) -> dict[str, Tensor]:
    """trigen-named state from the peer's ``theirs``; every peer tensor must be used.

    Raises CheckpointError when a peer tensor has no trigen counterpart or when repeated copies
    of one trigen tensor differ.
    """
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def put(name: str, value: Tensor, origin: str) -> None:
        if name in out and not torch.equal(out[name], value):
            raise CheckpointError(
                f"{source}: {origin} differs from another copy of trigen's {name}; trigen "
                "shares one tensor there, so this model cannot be imported exactly"
            )
        out[name] = value

    for a, b in pairs:
        for s in SUFFIXES:
            if f"{b}.{s}" in theirs:
                put(f"{a}.{s}", theirs[f"{b}.{s}"], f"{b}.{s}")
                used.add(f"{b}.{s}")
    for a, names in qkv:
        for s in SUFFIXES:
            parts = [theirs.get(f"{n}.{s}") for n in names]
            if all(p is not None for p in parts):
                put(f"{a}.{s}", torch.cat(parts, dim=0), f"{names[0]}.{s}")
                used.update(f"{n}.{s}" for n in names)
    extra = sorted(set(theirs) - used)
    if extra:
        raise CheckpointError(
            f"{source} has {len(extra)} tensors with no trigen counterpart (e.g. {extra[0]!r}); "
            "it is not the architecture its config describes"
        )
    return out


def load_exactly(net: nn.Module, ours: Mapping[str, Tensor], source: str) -> None:
    """Load ``ours`` into ``net`` strictly, or a one-line CheckpointError naming a problem."""
    mismatch = state_mismatch(net.state_dict(), ours)
    if mismatch.missing or mismatch.misshaped:
        name = (mismatch.missing or mismatch.misshaped)[0]
        what = "lacks" if mismatch.missing else "has a mis-shaped"
        raise CheckpointError(f"{source} {what} tensor for trigen's {name!r}")
    net.load_state_dict(dict(ours), strict=True)
