"""Shared parts of the interop loaders: safe tensor reading and the load report.

Every file is read as data only: safetensors, or ``torch.load(..., weights_only=True)``, whose
restricted unpickler refuses any pickle that asks to import and run Python code. Nothing here
ever unpickles freely.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from trigen.errors import CheckpointError, ConfigError

WEIGHT_FILES = (
    "model.safetensors",
    "diffusion_pytorch_model.safetensors",
    "pytorch_model.bin",
    "diffusion_pytorch_model.bin",
)
"""Weight files looked for, in this order, in a ``save_pretrained`` directory."""

SHARD_INDEXES = ("model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json")

SAFE_GLOBALS = (argparse.Namespace,)
"""Non-tensor types admitted by ``weights_only`` loading: official DiT training checkpoints store
their ``args`` as a Namespace, a plain attribute bag whose contents are still unpickled under
the same restrictions."""

_BLOCKED_GLOBAL = re.compile(r"unsupported GLOBAL (\S+)", re.IGNORECASE)


def torch_load_safely(path: Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    A pickle that names code to run (a ``GLOBAL`` outside tensors and containers) is refused
    before anything executes; a truncated or foreign file is reported as unreadable.
    """
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = _BLOCKED_GLOBAL.search(str(err))
        if blocked:
            raise CheckpointError(
                f"refused to load {path}: it asks to run Python code ({blocked.group(1)}), which "
                "trigen never does (weights_only=True); use a plain state dict or safetensors "
                "file from a source you trust"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint (corrupt, truncated or another format)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} cannot be read as a torch checkpoint: {first}") from None


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} cannot be read as safetensors: {err}") from None


def _read_sharded(index: Path) -> dict[str, Tensor]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{index} is not a valid shard index (no weight_map)") from None
    tensors: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        tensors.update(_read_safetensors(index.parent / shard))
    return tensors


def read_tensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a checkpoint file or ``save_pretrained`` directory, by name, on the CPU.

    Files: ``*.safetensors`` (read without pickle), anything else via :func:`torch_load_safely`
    (it must then hold a flat ``{name: tensor}`` dict). Directories: the first of
    :data:`WEIGHT_FILES` or a sharded safetensors index.
    """
    path = Path(path)
    if path.is_dir():
        for name in SHARD_INDEXES:
            if (path / name).is_file():
                return _read_sharded(path / name)
        for name in WEIGHT_FILES:
            if (path / name).is_file():
                return read_tensors(path / name)
        raise CheckpointError(
            f"{path} holds no weights file; expected one of {', '.join(WEIGHT_FILES)}"
        )
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        return _read_safetensors(path)
    return as_state_dict(torch_load_safely(path), str(path))


def as_state_dict(obj: Any, source: str) -> dict[str, Tensor]:
    """``obj`` as a flat ``{name: tensor}`` dict, or a CheckpointError saying what it is."""
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(
            f"{source} is not a flat state dict of named tensors (got {type(obj).__name__})"
        )
    return dict(obj)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, None when the file is absent; CheckpointError if malformed."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"{path} is not valid JSON") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return value


def read_checkpoint(
    checkpoint: str | Path | Mapping[str, Tensor], what: str
) -> tuple[dict[str, Tensor], dict[str, Any] | None, str]:
    """``(tensors, config.json or None, description)`` of a directory, file or state dict."""
    if isinstance(checkpoint, Mapping):
        return as_state_dict(checkpoint, f"{what} state dict"), None, f"{what} state dict"
    path = Path(checkpoint)
    config = read_json(path / "config.json") if path.is_dir() else None
    return read_tensors(path), config, str(path)


def find_prefix(keys: Sequence[str], probe: str) -> str | None:
    """The prefix ``p`` (possibly "") such that ``p + probe`` is a key; shortest first."""
    hits = sorted((k[: -len(probe)] for k in keys if k.endswith(probe)), key=len)
    return hits[0] if hits else None


def require(module: str) -> Any:
    """Import an optional peer library (diffusers, transformers) or say how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(
            f"this needs the optional package {module!r}; install it with "
            f"`pip install 'trigen[interop]'`"
        ) from None


class SkipReason(StrEnum):
    """Why a source tensor was not loaded into the target network."""

    NORM_AFFINE = "the target LayerNorm has no affine parameters (adaLN supplies scale/shift)"
    PATCH_EMBED = "patch embedding of another channel count or patch size"
    POSITIONS = "position embedding the target does not use or cannot hold"
    CLASS_TOKEN = "classification token; the target has none"
    HEAD = "task head or final norm of the source model"
    HEADS = "attention of another head split; the fused weights would mean something else"
    VOCAB = "token table of another vocabulary"
    SHAPE = "shape differs from the target tensor"
    NO_TARGET = "source block beyond the target's depth"
    BUFFER = "constant buffer (causal mask), not a weight"
    UNKNOWN = "no counterpart in the target network"


class Skip(NamedTuple):
    """One skipped source tensor: why, and the shapes or names involved."""

    reason: SkipReason
    detail: str = ""


@dataclass
class LoadReport:
    """What a partial initialisation did, tensor by tensor.

    ``loaded`` maps target names to the source names they were built from (several for a fused
    q/k/v; none for a constant such as a zero bias); ``skipped`` maps every unused source name to
    a :class:`Skip`; ``not_loaded`` lists the target parameters left at their initialisation.
    """

    source: str
    loaded: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: dict[str, Skip] = field(default_factory=dict)
    not_loaded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[SkipReason, list[str]]:
        """Skipped source names grouped by reason, each list sorted."""
        groups: dict[SkipReason, list[str]] = {}
        for name, skip in sorted(self.skipped.items()):
            groups.setdefault(skip.reason, []).append(name)
        return groups

    def summary(self) -> str:
        """A few human-readable lines: counts, skip reasons with examples, notes."""
        lines = [
            f"{self.source}: loaded {len(self.loaded)} target tensors, skipped "
            f"{len(self.skipped)} source tensors, {len(self.not_loaded)} target parameters "
            "keep their initialisation"
        ]
        for reason, names in self.skipped_by_reason().items():
            lines.append(f"  skipped {len(names)} ({reason.value}), e.g. {names[0]}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def single(tensors: list[Tensor]) -> Tensor:
    """The one source tensor, unchanged."""
    return tensors[0]


def transposed(tensors: list[Tensor]) -> Tensor:
    """A Conv1D weight (in, out) as an nn.Linear weight (out, in)."""
    return tensors[0].t()


def concatenated(tensors: list[Tensor]) -> Tensor:
    """Separate q, k, v rows stacked into one fused qkv tensor (dim 0)."""
    return torch.cat(tensors, dim=0)


@dataclass(frozen=True)
class Transfer:
    """Target tensor ``target`` = ``combine([state[s] for s in sources])``.

    When the target network has no tensor named ``target`` the sources are skipped for
    ``absent``; when the built tensor's shape differs they are skipped for ``mismatch``.
    """

    target: str
    sources: tuple[str, ...]
    combine: Callable[[list[Tensor]], Tensor] = single
    absent: SkipReason = SkipReason.UNKNOWN
    mismatch: SkipReason = SkipReason.SHAPE


def apply_transfers(
    net: nn.Module,
    state: Mapping[str, Tensor],
    transfers: Sequence[Transfer],
    skips: Mapping[str, Skip],
    source: str,
) -> LoadReport:
    """Copy every applicable transfer into ``net`` (no grad, cast to its dtype) and report.

    Source names in neither a transfer nor ``skips`` are reported as :attr:`SkipReason.UNKNOWN`.
    Nothing is copied until every transfer has been checked, so an error leaves ``net`` intact.
    """
    report = LoadReport(source)
    own = net.state_dict()
    staged: dict[str, Tensor] = {}
    for tr in transfers:
        missing = [s for s in tr.sources if s not in state]
        if missing:
            raise CheckpointError(f"{source} lacks {missing[0]!r}, which its layout requires")
        if tr.target not in own:
            report.skipped.update({s: Skip(tr.absent, f"no {tr.target}") for s in tr.sources})
            continue
        value = tr.combine([state[s] for s in tr.sources])
        if value.shape != own[tr.target].shape:
            detail = f"{tuple(value.shape)} vs {tr.target} {tuple(own[tr.target].shape)}"
            report.skipped.update({s: Skip(tr.mismatch, detail) for s in tr.sources})
            continue
        staged[tr.target] = value
        report.loaded[tr.target] = tr.sources
    used = {s for tr in transfers for s in tr.sources}
    for name in state:
        if name not in used and name not in report.skipped:
            report.skipped[name] = skips.get(name, Skip(SkipReason.UNKNOWN))
    with torch.no_grad():
        for name, value in staged.items():
            own[name].copy_(value)
    report.not_loaded = sorted(n for n, _ in net.named_parameters() if n not in staged)
    return report
