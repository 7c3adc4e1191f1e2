"""Progress of long work with an ETA: a live bar on a terminal, one line per tenth elsewhere.

Library functions take an optional ``progress(done, total)`` callback and know nothing of
terminals; the command line picks a :class:`Reporter` (:class:`LiveReporter`,
:class:`PlainReporter` or :class:`SilentReporter`) and hands one of its tasks down as that
callback::

    with reporter.task("sampling", "images") as progress:
        images = sample_sharded(family, labels, spec, progress=progress)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
"""Seconds from an arbitrary origin (``time.monotonic``; tests pass a fake one)."""

PLAIN_STEP = 0.1  # plain mode prints a line each time another tenth of the work is done


class Progress(Protocol):
    """What a library function calls as work advances: ``progress(done, total)`` in the
    task's unit; ``unit`` renames it (a training budget may switch from images to minutes)."""

    def __call__(self, done: float, total: float, unit: str | None = None) -> None: ...


@dataclass(frozen=True)
class Estimate:
    """How far a task is and when it will end, from ``done`` of ``total`` after ``elapsed``
    seconds; ``first_done`` is what was already done when timing began (a resumed run)."""

    done: float
    total: float
    elapsed: float
    first_done: float = 0.0

    @property
    def fraction(self) -> float:
        """Done / total in [0, 1]; an empty task is complete."""
        if self.total <= 0:
            return 1.0
        return min(max(self.done / self.total, 0.0), 1.0)

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate seen so far; None before any work was timed."""
        if self.fraction >= 1.0:
            return 0.0
        progressed = self.done - self.first_done
        if progressed <= 0 or self.elapsed <= 0:
            return None
        return self.elapsed * (self.total - self.done) / progressed


def format_seconds(seconds: float | None) -> str:
    """``3725`` → ``1:02:05``, ``65`` → ``1:05``; None → ``?``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


LARGE_AMOUNT = 1e9  # from here on an amount shows 3 significant digits (FLOPs: 1.2e+13)


def format_amount(value: float) -> str:
    """Counts (int) as they are, amounts (float: minutes, stages) to one decimal, and a number
    of :data:`LARGE_AMOUNT` or more (training FLOPs) to 3 significant digits."""
    if abs(value) >= LARGE_AMOUNT:
        return f"{value:.3g}"
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def plain_line(label: str, unit: str, e: Estimate) -> str:
    """``train: 40% (40/100 steps), 0:12 elapsed, ETA 0:18``."""
    return (
        f"{label}: {e.fraction:.0%} ({format_amount(e.done)}/{format_amount(e.total)} {unit}), "
        f"{format_seconds(e.elapsed)} elapsed, ETA {format_seconds(e.eta)}"
    )


class Reporter(Protocol):
    """Makes progress tasks; ``task`` is a context manager yielding a :class:`Progress`."""

    def task(self, label: str, unit: str) -> AbstractContextManager[Progress]: ...


class SilentReporter:
    """``--quiet``: reports nothing."""

    @contextmanager
    def task(self, label: str, unit: str) -> Iterator[Progress]:
        yield lambda done, total, unit=None: None


class PlainReporter:
    """For logs and pipes: one line through ``write`` each time another ``step`` (a tenth) of
    the work is done, the last at 100 % — at most 1/step + 1 lines per task."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        clock: Clock = time.monotonic,
        step: float = PLAIN_STEP,
    ) -> None:
        self.write, self.clock, self.step = write, clock, step

    @contextmanager
    def task(self, label: str, unit: str) -> Iterator[Progress]:
        started = first_done = None  # timing starts at the first report, after any set-up
        printed = 0  # tenths reported so far; 0 % is never a line of its own
        current_unit = unit

        def progress(done: float, total: float, unit: str | None = None) -> None:
            nonlocal started, first_done, printed, current_unit
            if unit is not None:
                current_unit = unit
            if started is None:
                started, first_done = self.clock(), done
            e = Estimate(done, total, self.clock() - started, first_done)
            tenths = math.floor(e.fraction / self.step + 1e-9)
            if tenths > printed:
                printed = tenths
                self.write(plain_line(label, current_unit, e))

        yield progress


class LiveReporter:
    """On a terminal: a rich progress bar with elapsed time and ETA, drawn on ``console``;
    what else is printed there meanwhile scrolls above it."""

    def __init__(self, console) -> None:
        self.console = console

    @contextmanager
    def task(self, label: str, unit: str) -> Iterator[Progress]:
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Bar(*columns, console=self.console, transient=False) as bar:
            task_id = bar.add_task(label, total=None, amount="")
            current_unit = unit

            def progress(done: float, total: float, unit: str | None = None) -> None:
                nonlocal current_unit
                current_unit = unit or current_unit
                amount = f"{format_amount(done)}/{format_amount(total)} {current_unit}"
                bar.update(task_id, completed=min(done, total), total=total, amount=amount)

            yield progress
