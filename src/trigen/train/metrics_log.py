"""``metrics.jsonl``: one JSON record per ``log_every`` optimizer steps of a training run."""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trigen.atomic import atomic_write_text

METRICS_FILE = "metrics.jsonl"


@dataclass
class LogWindow:
    """Loss and throughput of the steps since the last record."""

    started: float
    images: int = 0
    loss_sum: float = 0.0
    loss_n: int = 0

    def add(self, loss: float, images: int) -> None:
        """One optimizer step of ``images`` images; a non-finite (skipped) loss is not averaged."""
        self.images += images
        if math.isfinite(loss):
            self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1

    def close(self, run_started: float, **state: Any) -> dict[str, Any]:
        """The window's record — ``state`` (step, images seen, grad norm, …) with the window's
        mean loss, images/s and the run's elapsed seconds; the next window starts now."""
        now = time.perf_counter()
        record = {
            **state,
            "loss": self.loss_sum / max(self.loss_n, 1),
            "images_per_s": self.images / max(now - self.started, 1e-9),
            "elapsed_s": now - run_started,
        }
        self.started, self.images, self.loss_sum, self.loss_n = now, 0, 0.0, 0
        return record


def open_metrics_log(run_dir: Path, step: int, main: bool):
    """``run_dir/metrics.jsonl`` opened for appending on the main rank, after dropping what a
    killed run logged past ``step`` (its last checkpoint); a null context yielding None on the
    other ranks."""
    if not main:
        return nullcontext()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / METRICS_FILE
    truncate_log(path, step)
    return path.open("a")


def write_record(log: IO[str], record: dict[str, Any]) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


def truncate_log(path: Path, step: int) -> None:
    """Keep the records of ``path`` up to ``step``: what a killed run logged after its last
    checkpoint is trained again on resumption, and a half-written last line is dropped."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(kept))
