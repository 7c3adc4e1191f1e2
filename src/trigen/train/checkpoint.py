"""Checkpoints as safetensors (model, EMA, optimizer) + JSON (config, counters, RNG, data order).

A checkpoint is a directory ``step-00001234/`` written under a temporary name, fsynced and
renamed, so a crash never leaves a half-written checkpoint under a real name. ``state.json``
carries the sha256 of every tensor file; :func:`verify` recomputes them, so a truncated or
altered file is detected and :func:`latest_valid` falls back to the previous good one.
Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen.errors import CheckpointError

FORMAT_VERSION = 1
STATE_FILE = "state.json"
TENSOR_FILES = ("model.safetensors", "ema.safetensors", "optim.safetensors", "rng.safetensors")
_PREFIX = "step-"


@dataclass
class Checkpoint:
    """Everything a run needs to continue exactly; tensors live in ``tensors[file][name]``."""

    config: dict[str, Any]
    step: int
    images_seen: int
    tensors: dict[str, dict[str, Tensor]]
    extra: dict[str, Any] = field(default_factory=dict)  # optimizer groups, loader state, counters


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(ckpt: Checkpoint, directory: Path) -> Path:
    """Write ``ckpt`` atomically to ``directory/step-XXXXXXXX`` and return that path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{_PREFIX}{ckpt.step:08d}"
    tmp = directory / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        hashes = {}
        for name in TENSOR_FILES:
            tensors = {
                k: v.detach().contiguous().cpu() for k, v in ckpt.tensors.get(name, {}).items()
            }
            save_file(tensors, str(tmp / name))
            hashes[name] = _sha256(tmp / name)
        state = {
            "format": FORMAT_VERSION,
            "config": ckpt.config,
            "step": ckpt.step,
            "images_seen": ckpt.images_seen,
            "extra": ckpt.extra,
            "sha256": hashes,
        }
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        for name in (*TENSOR_FILES, STATE_FILE):
            with (tmp / name).open("rb+") as f:
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # same step written twice (e.g. resumed then stopped at once): replace
            old = directory / f".old-{final.name}-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a trigen checkpoint (no {STATE_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(
            f"{path / STATE_FILE} is corrupt; use an earlier checkpoint"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has an unknown checkpoint format; it was not written by trigen"
        )
    return state


def verify(path: Path) -> dict[str, Any]:
    """Check every file's sha256 against ``state.json``; return the state or raise."""
    state = _read_state(path)
    for name, expected in state.get("sha256", {}).items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file} is missing; the checkpoint is incomplete")
        if _sha256(file) != expected:
            raise CheckpointError(f"{file} is truncated or altered (sha256 mismatch)")
    return state


def load(path: Path) -> Checkpoint:
    """Read a verified checkpoint directory (or a run directory: its newest valid checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not (path / STATE_FILE).exists():
        found = latest_valid(path / "checkpoints") or latest_valid(path)
        if found is None:
            raise CheckpointError(f"no valid checkpoint found in {path}")
        path = found
    state = verify(path)
    tensors = {}
    for name in TENSOR_FILES:
        try:
            tensors[name] = load_file(str(path / name))
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path / name} cannot be read: {err}") from None
    return Checkpoint(state["config"], state["step"], state["images_seen"], tensors, state["extra"])


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint directories under ``directory``, oldest first (temporary ones excluded)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def latest_valid(directory: Path, *, warn=None) -> Path | None:
    """The newest checkpoint that verifies; invalid newer ones are reported through ``warn``."""
    for path in reversed(list_checkpoints(directory)):
        try:
            verify(path)
        except CheckpointError as err:
            if warn is not None:
                warn(f"skipping invalid checkpoint: {err}")
            continue
        return path
    return None


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for path in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def load_weights(net: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Load ``tensors`` into ``net`` strictly; a mismatch means another model's checkpoint."""
    own = net.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise CheckpointError(
            f"{source} belongs to another model or configuration "
            f"({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} mis-shaped tensors, "
            f"e.g. {first!r}); check --model/--family or use the checkpoint's own config"
        )
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(tensors[key])
