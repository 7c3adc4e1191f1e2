"""Keeping the last K plus the best; what a crash mid-write or mid-prune leaves is repaired."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.config import TrainConfig
from trigen.errors import CheckpointError
from trigen.train import checkpoint as ckpt_io
from trigen.train.loop import Trainer


class ScriptedFamily:
    """A family whose training loss follows ``losses`` batch by batch (gradients stay finite):
    the n-th batch of :class:`CountingLoader` scores ``losses[n - 1]``, however often the
    trainer calls the loss on it (it counts one image's FLOPs before training)."""

    def __init__(self, losses: list[float]) -> None:
        self.net = nn.Linear(2, 2)
        self.losses = losses

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        value = self.losses[int(batch.images[0, 0, 0, 0]) - 1]
        return self.net(batch.images.flatten(1)[:, :2]).sum(1) * 0 + value


class CountingLoader:
    """Resumable loader of constant batches, the n-th filled with n."""

    def __init__(self) -> None:
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        self.position += 1
        return Batch(
            torch.full((4, 1, 2, 2), float(self.position)), torch.zeros(4, dtype=torch.long)
        )

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]


def trainer(run: Path, losses: list[float], steps: int) -> Trainer:
    cfg = TrainConfig(
        batch_size=4, max_steps=steps, checkpoint_every=2, keep_checkpoints=2, log_every=1000
    )
    return Trainer(ScriptedFamily(losses), CountingLoader(), cfg, run)


def best_of(run: Path) -> list[str]:
    return [p.name for p in ckpt_io.list_checkpoints(run / "checkpoints" / ckpt_io.BEST_DIR)]


def test_the_best_checkpoint_survives_pruning_and_resumption(tmp_path):
    # checkpoint windows of 2 steps: mean losses 5, 1, 3, 4, 2 -> the best is step 4
    first = trainer(tmp_path, [5, 5, 1, 1, 3, 3, 4, 4, 2, 2], steps=10)
    first.run()
    kept = [p.name for p in ckpt_io.list_checkpoints(tmp_path / "checkpoints")]
    assert kept == ["step-00000008", "step-00000010"]  # keep_checkpoints = 2
    assert best_of(tmp_path) == ["step-00000004"]
    best = ckpt_io.verify(tmp_path / "checkpoints" / ckpt_io.BEST_DIR / "step-00000004")
    assert best["step"] == 4 and best["extra"]["best_loss"] == 1.0

    # resumed: a worse window (1.5) keeps the old best, a better one (0.5) replaces it
    second = trainer(tmp_path, [5, 5, 1, 1, 3, 3, 4, 4, 2, 2, 1.5, 1.5, 0.5, 0.5], steps=14)
    assert second.resume_latest() and second.best_loss == 1.0
    second.run()
    assert best_of(tmp_path) == ["step-00000014"]
    hidden = [p for p in (tmp_path / "checkpoints").rglob(".*")]
    assert not hidden


def test_best_copy_does_not_depend_on_the_original(tmp_path):
    ckpt = ckpt_io.Checkpoint({}, 3, 12, {name: {} for name in ckpt_io.TENSOR_FILES})
    path = ckpt_io.save(ckpt, tmp_path)
    best = ckpt_io.mark_best(path, tmp_path)
    shutil.rmtree(path)  # pruning the original leaves the best intact
    assert ckpt_io.verify(best)["step"] == 3
    assert ckpt_io.load(tmp_path / ckpt_io.BEST_DIR).step == 3


def _save(directory: Path, step: int) -> Path:
    tensors = {"w": torch.full((2, 2), float(step))}
    return ckpt_io.save(
        ckpt_io.Checkpoint({}, step, step, {n: tensors for n in ckpt_io.TENSOR_FILES}), directory
    )


def test_crash_between_the_renames_of_a_replacement_is_repaired(tmp_path):
    """A run killed while replacing step N (old moved aside, new not yet in place) gets step N
    back, and a half-written temporary is removed, when the next run starts."""
    _save(tmp_path, 2)
    current = _save(tmp_path, 4)
    current.rename(tmp_path / ".old-step-00000004-4242")
    (tmp_path / ".tmp-step-00000006-4242").mkdir()
    (tmp_path / ".tmp-step-00000006-4242" / "model.safetensors").write_bytes(b"half")
    notes = ckpt_io.clean_temporaries(tmp_path)
    assert len(notes) == 2
    assert [p.name for p in tmp_path.iterdir()] and all(
        not p.name.startswith(".") for p in tmp_path.iterdir()
    )
    assert [p.name for p in ckpt_io.list_checkpoints(tmp_path)] == [
        "step-00000002",
        "step-00000004",
    ]
    assert ckpt_io.verify(tmp_path / "step-00000004")["step"] == 4


def test_a_crash_while_pruning_leaves_no_half_deleted_checkpoint(tmp_path, monkeypatch):
    for step in (2, 4, 6):
        _save(tmp_path, step)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies in the middle of deleting

    monkeypatch.setattr(ckpt_io.shutil, "rmtree", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt_io.prune(tmp_path, keep=1)
    monkeypatch.undo()
    for path in ckpt_io.list_checkpoints(tmp_path):  # whatever kept its name still verifies
        ckpt_io.verify(path)
    ckpt_io.clean_temporaries(tmp_path)
    ckpt_io.prune(tmp_path, keep=1)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000006"]


def test_resume_with_only_invalid_checkpoints_refuses_to_overwrite_them(tmp_path):
    trainer(tmp_path, [1.0] * 4, steps=4).run()
    for path in ckpt_io.list_checkpoints(tmp_path / "checkpoints"):
        (path / "optim.safetensors").write_bytes(b"")
    before = {p.name for p in ckpt_io.list_checkpoints(tmp_path / "checkpoints")}
    warnings: list[str] = []
    with pytest.raises(CheckpointError, match="none of the 2 checkpoints"):
        trainer(tmp_path, [1.0] * 4, steps=8).resume_latest(warn=warnings.append)
    assert len(warnings) == 2
    assert {p.name for p in ckpt_io.list_checkpoints(tmp_path / "checkpoints")} == before


def test_save_refuses_a_step_that_is_not_a_count(tmp_path):
    for step in (-1, "../x", True):
        ckpt = ckpt_io.Checkpoint({}, step, 0, {})
        with pytest.raises(CheckpointError, match="step"):
            ckpt_io.save(ckpt, tmp_path)
    assert not any(tmp_path.iterdir())
