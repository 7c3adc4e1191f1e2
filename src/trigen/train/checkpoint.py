"""Checkpoints as safetensors (model, EMA, optimizer) + JSON (config, counters, RNG, data order).

A checkpoint is a directory ``step-00001234/`` written under a temporary name, fsynced and
renamed, so a crash never leaves a half-written checkpoint under a real name. ``state.json``
carries the sha256 of every tensor file; :func:`verify` recomputes them, so a truncated or
altered file is detected and :func:`latest_valid` falls back to the previous good one.
Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from trigen.errors import CheckpointError
from trigen.nn.state import state_mismatch

FORMAT_VERSION = 1
STATE_FILE = "state.json"
TENSOR_FILES = ("model.safetensors", "ema.safetensors", "optim.safetensors", "rng.safetensors")
_PREFIX = "step-"
# Names of work directories inside a checkpoint directory; a crash may leave them behind.
_TMP, _OLD, _DEL = ".tmp-", ".old-", ".del-"
BEST_DIR = "best"  # checkpoints/best/ holds one checkpoint that prune never deletes
# errno values meaning "the disk cannot take this write": reported as a user error, not a crash.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SHA256_HEX = 64


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


def check_inside(path: Path, root: Path) -> Path:
    """``path`` resolved; CheckpointError unless it lies inside ``root`` (links followed)."""
    resolved, top = Path(path).resolve(), Path(root).resolve()
    if resolved != top and top not in resolved.parents:
        raise CheckpointError(
            f"refusing to write {path}: it resolves to {resolved}, outside the run directory "
            f"{top}; remove the link or the odd name"
        )
    return resolved


def disk_full_error(err: OSError, what: str) -> CheckpointError:
    """The user-facing error for a write that failed because the disk (or quota) is full."""
    return CheckpointError(
        f"no space left on the device while writing {what} ({err.strerror}); "
        "free some disk space (or lower keep_checkpoints) and resume with --resume"
    )


def save(ckpt: Checkpoint, directory: Path) -> Path:
    """Write ``ckpt`` atomically to ``directory/step-XXXXXXXX`` and return that path.

    A full disk raises CheckpointError and leaves the earlier checkpoints as they were.
    """
    if isinstance(ckpt.step, bool) or not isinstance(ckpt.step, int) or ckpt.step < 0:
        raise CheckpointError(f"checkpoint step must be an integer ≥ 0, got {ckpt.step!r}")
    try:
        return _save(ckpt, Path(directory))
    except OSError as err:
        if err.errno in DISK_FULL:
            raise disk_full_error(err, f"checkpoint step {ckpt.step} in {directory}") from None
        raise


def _save(ckpt: Checkpoint, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{_PREFIX}{ckpt.step:08d}"
    check_inside(final, directory)
    tmp = directory / f"{_TMP}{final.name}-{os.getpid()}"
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
            old = directory / f"{_OLD}{final.name}-{os.getpid()}"
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


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_state(path: Path, state: Any) -> dict[str, Any]:
    """``state`` if it has trigen's layout; CheckpointError otherwise.

    The manifest must name exactly trigen's tensor files: a crafted ``state.json`` cannot point
    reads at ``../`` paths, nor give a step that would name a directory outside the run.
    """
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has an unknown checkpoint format; it was not written by trigen"
        )
    hashes = state.get("sha256")
    well_formed = (
        isinstance(state.get("config"), dict)
        and isinstance(state.get("extra"), dict)
        and _is_count(state.get("step"))
        and _is_count(state.get("images_seen"))
        and isinstance(hashes, dict)
        and sorted(hashes) == sorted(TENSOR_FILES)
        and all(isinstance(h, str) and len(h) == _SHA256_HEX for h in hashes.values())
    )
    if not well_formed:
        raise CheckpointError(
            f"{path / STATE_FILE} is malformed or altered (bad step, config or file list); "
            "use an earlier checkpoint"
        )
    return state


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a trigen checkpoint (no {STATE_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(
            f"{path / STATE_FILE} is corrupt; use an earlier checkpoint"
        ) from None
    return _check_state(path, state)


def verify(path: Path) -> dict[str, Any]:
    """Check every file's sha256 against ``state.json``; return the state or raise."""
    state = _read_state(path)
    for name, expected in state["sha256"].items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(
                f"{file} is missing; the checkpoint is incomplete: use an earlier checkpoint"
            )
        if _sha256(file) != expected:
            raise CheckpointError(
                f"{file} is truncated or altered (sha256 mismatch): use an earlier checkpoint "
                "or pass the run directory to pick the newest valid one"
            )
    return state


def resolve(path: Path, *, warn: Callable[[str], None] | None = None) -> Path:
    """The checkpoint directory ``path`` names: itself, or a run directory's newest valid one.

    Newer checkpoints of a run directory that fail verification are skipped and reported
    through ``warn``.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist: check the path")
    if (path / STATE_FILE).exists():
        return path
    found = latest_valid(path / "checkpoints", warn=warn) or latest_valid(path, warn=warn)
    if found is None:
        raise CheckpointError(
            f"no valid checkpoint found in {path}: pass a run directory or a "
            "checkpoints/step-XXXXXXXX directory written by trigen train"
        )
    return found


def load(path: Path, *, warn: Callable[[str], None] | None = None) -> Checkpoint:
    """Read a verified checkpoint directory (or a run directory: its newest valid checkpoint,
    as :func:`resolve` finds it)."""
    path = resolve(path, warn=warn)
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


def step_of(path: Path) -> int:
    """The step a checkpoint directory ``step-XXXXXXXX`` was written at."""
    name = Path(path).name
    if not name.startswith(_PREFIX) or not name[len(_PREFIX) :].isdigit():
        raise CheckpointError(f"{path} is not a checkpoint directory ({_PREFIX}<step>)")
    return int(name[len(_PREFIX) :])


def is_newest(path: Path | None, step: int) -> bool:
    """Whether ``path`` is the newest checkpoint of its directory and was written at ``step``:
    a run that ends at ``step`` needs no further checkpoint then."""
    if path is None:
        return False
    return list_checkpoints(path.parent)[-1:] == [path] and step_of(path) == step


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


def _remove(path: Path) -> None:
    """Delete directory ``path`` so a crash midway leaves no half-deleted checkpoint behind:
    it is first renamed to a hidden name (atomic), then removed."""
    hidden = path.with_name(f"{_DEL}{path.name}-{os.getpid()}")
    path.rename(hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (``best/`` is not among them)."""
    for path in list_checkpoints(directory)[:-keep]:
        _remove(path)


def clean_temporaries(directory: Path) -> list[str]:
    """Tidy what killed writers left in ``directory``; returns what was done, for a warning.

    Call it only while holding the run's lock. A ``.tmp-`` directory is an unfinished write and is
    deleted; a ``.old-`` one is a checkpoint that was being replaced: it is put back if the
    replacement never landed. Checkpoints under real names are never touched.
    """
    done: list[str] = []
    if not directory.is_dir():
        return done
    for path in sorted(directory.iterdir()):
        if not path.is_dir() or not path.name.startswith((_TMP, _OLD, _DEL)):
            continue
        original = directory / path.name[len(_OLD) :].rsplit("-", 1)[0]
        if path.name.startswith(_OLD) and not original.exists():
            path.rename(original)
            done.append(f"restored {original.name} from an interrupted replacement")
        else:
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path.name} left by an interrupted write")
    if (directory / BEST_DIR).is_dir():
        done += clean_temporaries(directory / BEST_DIR)
    return done


def mark_best(path: Path, directory: Path) -> Path:
    """Make ``directory/best/<name>`` a copy of checkpoint ``path``, replacing the previous best.

    Files are hard-linked (checkpoint files are never modified in place, so sharing them is
    safe and costs no space), falling back to a copy; the new best appears atomically.
    """
    best_dir = directory / BEST_DIR
    best_dir.mkdir(exist_ok=True)
    final = best_dir / path.name
    tmp = best_dir / f"{_TMP}{path.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        for file in path.iterdir():
            try:
                os.link(file, tmp / file.name)
            except OSError:
                shutil.copy2(file, tmp / file.name)
        _fsync_dir(tmp)
        if final.exists():
            _remove(final)
        tmp.rename(final)
        _fsync_dir(best_dir)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in DISK_FULL:
            raise disk_full_error(err, f"the best checkpoint in {best_dir}") from None
        raise
    for old in list_checkpoints(best_dir):
        if old != final:
            _remove(old)
    return final


def load_weights(net: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Load ``tensors`` into ``net`` strictly; a mismatch means another model's checkpoint."""
    own = net.state_dict()
    if mismatch := state_mismatch(own, tensors):
        raise CheckpointError(
            f"{source} belongs to another model or configuration ({mismatch.summary()}); "
            "check --model/--family or use the checkpoint's own config"
        )
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(tensors[key])
