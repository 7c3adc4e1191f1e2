"""Training logs: metrics.jsonl always, TensorBoard event files on request (``--logger``)."""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from pathlib import Path

import numpy as np

from trigen.choices import parse_choice
from trigen.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"  # RUN/tensorboard/: `tensorboard --logdir runs/` finds it
INSTALL_HINT = "pip install 'trigen[tb]'"
# metrics.jsonl fields written as scalars, under the tag on the right
SCALARS = {
    "loss": "train/loss",
    "lr": "train/lr",
    "grad_norm": "train/grad_norm",
    "images_per_s": "train/images_per_s",
}
GRID_TAG = "samples/ema"


class Logger(StrEnum):
    """Where training metrics go. metrics.jsonl is the run's own record (resumption and
    ``trigen compare`` read it), so it is always written; ``tensorboard`` adds event files."""

    JSONL = "jsonl"
    TENSORBOARD = "tensorboard"


def parse_loggers(text: str) -> frozenset[Logger]:
    """``"jsonl,tensorboard"`` → both; always includes :attr:`Logger.JSONL`."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    chosen = {parse_choice(Logger, name, "logger") for name in names}
    if Logger.TENSORBOARD in chosen:
        require_tensorboard()
    return frozenset(chosen | {Logger.JSONL})


def require_tensorboard() -> None:
    """Raise a one-line ConfigError unless the ``tensorboard`` package is installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"--logger tensorboard needs the tensorboard package: {INSTALL_HINT}")


class TensorBoardLog:
    """Scalars and sample grids of one run, as TensorBoard events in ``directory``.

    The x axis is images seen (STYLE: training is counted in images, so runs with different
    batch sizes line up). Events at or after ``purge_from`` images left by an earlier, killed
    session are hidden: a resumed run trains those images again.
    """

    def __init__(self, directory: Path, purge_from: int | None = None) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(directory), purge_step=purge_from)

    def scalars(self, record: dict[str, float]) -> None:
        """Write the :data:`SCALARS` of one metrics.jsonl record."""
        images = int(record["images"])
        for field, tag in SCALARS.items():
            if field in record:
                self.writer.add_scalar(tag, float(record[field]), images)
        self.writer.flush()

    def grid(self, grid: np.ndarray, images_seen: int) -> None:
        """Write one uint8 image (H, W, C) — a sample grid — at ``images_seen``."""
        if grid.shape[-1] == 1:  # TensorBoard shows grey images as RGB
            grid = np.repeat(grid, 3, axis=-1)
        self.writer.add_image(GRID_TAG, grid, images_seen, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
