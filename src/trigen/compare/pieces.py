"""The finished pieces of a comparison on disk, so that ``trigen compare --resume`` continues a
run that was killed where it stopped, and ends with the results an uninterrupted run gives.

A piece is one unit of work whose result is final once written: a family trained and measured
(``family/unet``; one per training seed, ``family/unet@1``, with several seeds), a study
(``study/nfe``), the adherence study (``adherence``), a claim (``claim/C7``). Each is a JSON file
under ``out/pieces/``, written atomically once everything it refers to (the family's run
directory, its sample grid, a figure) is on disk: a piece file means a finished piece. Work that
was under way when the run died is done again from its start (a family's training from
scratch: its run directory is cleared first), and every piece starts from the same global RNG
state (:func:`trigen.rng.seed_globals`), so what it computes does not depend on which pieces ran
before it in this process.

``pieces/run.json`` holds the settings the run started with (:func:`settings_record`); a
resumption under other settings is refused, naming the first setting that differs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from trigen.atomic import atomic_write_text
from trigen.compare.settings import CompareSettings
from trigen.errors import ConfigError, DataError
from trigen.provenance import code_commit
from trigen.rng import seed_globals
from trigen.train.lock import RunLock

PIECES_DIR = "pieces"
RUN_FILE = "run.json"
FORMAT = 1  # of run.json and the piece files
COMMIT = "commit"  # run.json's field naming the code that began the run (trigen.provenance)
ORIGIN = "origin"  # run.json's field: the command and date that began the run
S = TypeVar("S", bound=CompareSettings)


def settings_record(s: CompareSettings, reuse: dict[str, Path], device: str) -> dict[str, Any]:
    """What decides a comparison's numbers, as JSON: every setting (nested claim settings
    included, enums as their values), the reused checkpoints and the device."""
    return {
        "settings": json.loads(json.dumps(dataclasses.asdict(s), default=str)),
        "reuse": {name: str(path) for name, path in sorted(reuse.items())},
        "device": device,
    }


def settings_from_record(record: dict[str, Any], cls: type[S]) -> S:
    """The settings (``cls``: :class:`CompareSettings` or a subclass) that
    :func:`settings_record` wrote down (its ``settings``)."""
    try:
        return _from_json(cls, record)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise DataError(
            f"the run's settings cannot be read back ({err}); resume with its options given "
            "again, or start it anew"
        ) from None


def _from_json(cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            f.name: _coerce(hints[f.name], values[f.name])
            for f in dataclasses.fields(cls)
            if f.name in values
        }
    )


def _coerce(hint: Any, value: Any) -> Any:
    """JSON ``value`` as the type ``hint`` names: tuples, enums, nested dataclasses."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):  # X | None
        return _coerce(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return tuple(_coerce(args[0], v) for v in value)
    if dataclasses.is_dataclass(hint):
        return _from_json(hint, value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is float:
        return float(value)
    return value


def first_difference(stored: Any, given: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first setting (dotted path, in the record's order) whose value differs between two
    records, with both values; None when they are equal."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in [*stored, *(k for k in given if k not in stored)]:
            where = f"{path}.{key}" if path else key
            if key not in stored or key not in given:
                return where, stored.get(key, "(unset)"), given.get(key, "(unset)")
            found = first_difference(stored[key], given[key], where)
            if found is not None:
                return found
        return None
    return None if stored == given else (path, stored, given)


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


class Pieces:
    """The finished pieces of the comparison in ``out``, begun under ``record``."""

    def __init__(
        self,
        out: Path,
        record: dict[str, Any],
        resume: bool,
        seed: int,
        origin: dict[str, str] | None = None,
    ) -> None:
        self.out, self.record, self.resume, self.seed = Path(out), record, resume, seed
        self._origin = origin or {}
        self.root = self.out / PIECES_DIR
        self._lock: RunLock | None = None

    def begin(self) -> None:
        """Hold the directory against a second comparison and, on a fresh start, write down
        the settings; call once ``out`` may be created."""
        self._lock = RunLock(self.root).__enter__()
        if not self.resume:
            stored = {"format": FORMAT, **self.record, COMMIT: code_commit(), ORIGIN: self._origin}
            atomic_write_text(self.root / RUN_FILE, json.dumps(stored, indent=1))

    def origin(self) -> dict[str, str]:
        """How the run began: ``{"command", "date"}`` as this process was given them on a fresh
        start, as run.json keeps them on a resumed one (empty for a run begun before run.json
        kept them)."""
        if not self.resume:
            return dict(self._origin)
        stored = stored_record(self.out).get(ORIGIN)
        return dict(stored) if isinstance(stored, dict) else {}

    def code_change(self) -> str | None:
        """On a resumed run, a note when the code's commit differs from the one that began it
        (``+dirty`` counts as another commit): its finished pieces were measured by that code and
        are kept, so a reader of the results should know. None on a fresh start, on the same
        commit, or where either commit is unknown (uncommitted edits that leave the commit string
        the same cannot be told apart)."""
        if not self.resume:
            return None
        began = stored_record(self.out).get(COMMIT)
        now = code_commit()
        if began is None or now is None or began == now:
            return None  # the same commit, or one side unknown (no checkout, git failed)
        return (
            f"resumed under code {now}; the pieces finished before the interruption were made "
            f"by {began}: numbers from both are in this file (rerun from scratch for one code's "
            "numbers)"
        )

    def close(self) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def get(self, name: str) -> Any | None:
        """The value of the finished piece ``name``, None when it has not finished."""
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["value"]
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"{path} is unreadable ({err}); delete it to redo the piece") from None

    def put(self, name: str, value: Any) -> None:
        """Record ``name`` as finished with ``value`` (JSON); call once its files are written."""
        text = json.dumps({"piece": name, "value": value}, indent=1, default=float)
        atomic_write_text(self._path(name), text)

    def start(self, name: str) -> None:
        """Begin the work of piece ``name``: seed the global RNGs from the comparison's seed and
        ``name``, so the piece draws the same whatever ran before it in this process."""
        seed_globals(self.seed, name)

    def run(self, name: str, compute: Callable[[], Any]) -> Any:
        """The value of piece ``name``: recorded by an earlier run, else ``compute()``d from
        global RNG state seeded by the comparison's seed and ``name``, and recorded. Either way
        it is the recorded JSON read back, so a resumed run goes on with what a fresh one has."""
        value = self.get(name)
        if value is None:
            self.start(name)
            self.put(name, compute())
            value = self.get(name)  # as a resumed run reads it back
        return value

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.json"


@contextmanager
def open_pieces(
    out: Path,
    record: dict[str, Any],
    *,
    resume: bool,
    seed: int,
    origin: dict[str, str] | None = None,
) -> Iterator[Pieces]:
    """The pieces of a comparison under ``record`` (:func:`settings_record`) in ``out``. A fresh
    start refuses a directory that already holds a comparison; ``resume`` refuses one that
    holds none, or one that ran under other settings (a one-line ConfigError naming the first
    that differs). Nothing is written before these checks pass, nor before ``begin()``.
    ``origin``: the command and date of this start, kept in run.json on a fresh one."""
    if resume:
        stored = {
            k: v for k, v in stored_record(out).items() if k not in ("format", COMMIT, ORIGIN)
        }
        if (found := first_difference(stored, record)) is not None:
            where, before, now = found
            raise ConfigError(
                f"--resume: setting {where.removeprefix('settings.')} differs from the run in "
                f"{out} (the run: {_shown(before)}, this command: {_shown(now)}); resume with "
                "the run's own settings (give none of them) or choose another --out directory"
            )
    elif (Path(out) / PIECES_DIR / RUN_FILE).exists():
        raise ConfigError(
            f"{out} already holds a compare run; pass --resume to continue it, or choose "
            "another --out directory"
        )
    pieces = Pieces(out, record, resume, seed, origin)
    try:
        yield pieces
    finally:
        pieces.close()


def stored_record(out: Path) -> dict[str, Any]:
    """The settings record of the comparison in ``out``; a one-line ConfigError when ``out``
    holds none."""
    path = Path(out) / PIECES_DIR / RUN_FILE
    if not path.is_file():
        raise ConfigError(
            f"--resume: {out} holds no compare run to continue ({path} is missing); start one "
            "without --resume"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is unreadable ({err}); start the run again") from None


def clear_run_dir(run_dir: Path) -> None:
    """Remove what an interrupted piece left of a training run directory, so the run trains
    again from scratch."""
    if run_dir.is_dir():
        shutil.rmtree(run_dir)
