"""The caller's callbacks for one training run: one bundle from :func:`trigen.api.train` down
to :meth:`trigen.train.loop.Trainer.run`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trigen.train.budget import BudgetSpent


@dataclass(frozen=True)
class TrainHooks:
    """What the caller of a training run hears and decides.

    ``should_stop()`` is asked before every step on every rank (any rank's yes stops them all);
    the others are rank 0's alone (:meth:`on_rank`): ``on_log(record)`` every ``log_every``
    steps, ``on_warning(note)``, ``on_progress`` with the budget spent after every step, and
    ``on_checkpoint(path, images_seen)`` after each checkpoint is written.
    """

    should_stop: Callable[[], bool] = lambda: False
    on_log: Callable[[dict[str, float]], None] | None = None
    on_warning: Callable[[str], None] | None = None
    on_progress: Callable[[BudgetSpent], None] | None = None
    on_checkpoint: Callable[[Path, int], None] | None = None

    def on_rank(self, is_main: bool) -> TrainHooks:
        """These hooks on one rank: rank 0 keeps them all, the others only ``should_stop``."""
        return self if is_main else TrainHooks(self.should_stop)

    def log(self, record: dict[str, float]) -> None:
        if self.on_log is not None:
            self.on_log(record)

    def warn(self, note: str) -> None:
        if self.on_warning is not None:
            self.on_warning(note)

    def progress(self, spent: BudgetSpent) -> None:
        if self.on_progress is not None:
            self.on_progress(spent)
