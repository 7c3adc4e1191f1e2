"""A real ``trigen train`` process, killed at random moments and resumed, ends where an
uninterrupted run ends, bit for bit; SIGTERM finishes the step and checkpoints."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from trigen.train import checkpoint as ckpt_io

from .helpers import PYTHON, run_cli, subprocess_env, train_args, write_folder_dataset

STEPS = 60  # each round makes ~4-8 steps of progress: 5 kills land well before the end
KILLS = 5
# log_every=1: metrics.jsonl shows where each process started and every step's loss.
CHECKPOINTING = [
    *("--set", "checkpoint_every=2"),
    *("--set", "keep_checkpoints=3"),
    *("--set", "log_every=1"),
]
POLL_S = 0.0005
MID_WRITE_PERIODS = 1.5  # how long odd rounds watch for a checkpoint being written
TIME_LIMIT_S = 240  # a hung child fails the test instead of hanging CI
HIDDEN = (".tmp-", ".old-", ".del-")


def newest_step(run: Path) -> int:
    """Step of the newest checkpoint directory under ``run`` (-1 when there is none)."""
    found = ckpt_io.list_checkpoints(run / "checkpoints")
    return int(found[-1].name.split("-")[1]) if found else -1


def hidden_entries(run: Path) -> list[str]:
    """Work directories (unfinished writes, replacements, deletions) under the checkpoints."""
    roots = [run / "checkpoints", run / "checkpoints" / ckpt_io.BEST_DIR]
    return [p.name for r in roots if r.is_dir() for p in r.iterdir() if p.name.startswith(HIDDEN)]


def verify_all(run: Path) -> int:
    """Every checkpoint under a real name verifies; returns how many were checked."""
    directory = run / "checkpoints"
    if not directory.is_dir():
        return 0
    names = {p.name for p in directory.iterdir() if not p.name.startswith(HIDDEN)}
    assert names <= {*(p.name for p in ckpt_io.list_checkpoints(directory)), ckpt_io.BEST_DIR}
    checked = ckpt_io.list_checkpoints(directory) + ckpt_io.list_checkpoints(
        directory / ckpt_io.BEST_DIR
    )
    for path in checked:
        ckpt_io.verify(path)  # raises CheckpointError for a truncated or half-written one
    return len(checked)


def wait_for_progress(proc: subprocess.Popen, run: Path, after: int, deadline: float) -> bool:
    """Block until a checkpoint newer than step ``after`` exists; False if the child exited."""
    while newest_step(run) <= after:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the training child made no progress in time"
        time.sleep(POLL_S)
    return True


def kill_at_random(
    proc: subprocess.Popen, run: Path, rng: random.Random, mid_write: bool, deadline: float
) -> bool:
    """SIGKILL ``proc`` at a random moment within one checkpoint period, or (``mid_write``) as
    soon as a checkpoint is being written or pruned; False if it exited first.

    Delays are measured in checkpoint periods, timed live, so that each round makes a few steps
    of progress however fast the machine is.
    """
    started = time.monotonic()
    if not wait_for_progress(proc, run, newest_step(run), deadline):
        return False
    period = time.monotonic() - started
    if mid_write:
        until = time.monotonic() + MID_WRITE_PERIODS * period
        while time.monotonic() < until and not hidden_entries(run):
            time.sleep(POLL_S)
    else:
        time.sleep(rng.uniform(0, period))
    proc.kill()
    proc.wait()
    return True


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def tensors_of(path: Path) -> dict[str, torch.Tensor]:
    loaded = ckpt_io.load(path)
    return {f"{file}/{k}": v for file, group in loaded.tensors.items() for k, v in group.items()}


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, capsys):
    data = write_folder_dataset(tmp_path / "data")
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    argv = [*train_args(data, killed, steps=STEPS, batch=16), *CHECKPOINTING, "--resume"]
    rng = random.Random(7)
    deadline = time.monotonic() + TIME_LIMIT_S
    kills, verified, caught_mid_write, rounds = 0, 0, 0, 0
    while kills < KILLS:
        rounds += 1
        log_path = tmp_path / f"child-{rounds}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [PYTHON, "-m", "trigen", *argv], env=subprocess_env(), stdout=log, stderr=log
            )
            progressed = wait_for_progress(proc, killed, newest_step(killed), deadline)
            if not (progressed and kill_at_random(proc, killed, rng, kills % 2 == 1, deadline)):
                pytest.fail(f"child exited before it was killed:\n{log_path.read_text()}")
        kills += 1
        caught_mid_write += bool(hidden_entries(killed))
        verified += verify_all(killed)
        assert ckpt_io.latest_valid(killed / "checkpoints") is not None
    # The last resumption runs to the end of the budget; in this process, to save a start-up.
    code, text = run_cli(capsys, *argv)
    assert code == 0, text
    assert newest_step(killed) == STEPS
    assert not hidden_entries(killed), "a killed writer's work directory was never cleaned up"
    verified += verify_all(killed)

    code, text = run_cli(capsys, *train_args(data, straight, steps=STEPS, batch=16), *CHECKPOINTING)
    assert code == 0, text
    # Each process's clock starts at 0: a drop in elapsed_s marks where a resumption began,
    # and every resumption began right after a checkpoint, not from scratch.
    records = metrics(killed)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    starts = [b["step"] for a, b in pairwise(records) if b["elapsed_s"] < a["elapsed_s"]]
    assert len(starts) == KILLS and all(s > 1 and (s - 1) % 2 == 0 for s in starts), starts
    assert [r["loss"] for r in records] == [r["loss"] for r in metrics(straight)]
    final = f"checkpoints/step-{STEPS:08d}"
    ours, reference = tensors_of(killed / final), tensors_of(straight / final)
    assert ours.keys() == reference.keys()
    max_diff = max(
        (a.float() - b.float()).abs().max().item() if a.numel() else 0.0
        for a, b in ((ours[k], reference[k]) for k in ours)
    )
    for key, value in reference.items():
        assert torch.equal(ours[key], value), key
    assert (
        ckpt_io.load(killed / final).extra["loader"]
        == ckpt_io.load(straight / final).extra["loader"]
    )
    with capsys.disabled():
        print(
            f"\nkill/resume: {kills} SIGKILLs survived ({caught_mid_write} with a write or "
            f"prune in flight), resumed at steps {starts}, {verified} checkpoint verifications "
            f"passed, final max |Δw| = {max_diff}"
        )


@pytest.mark.slow
def test_sigterm_finishes_the_step_and_checkpoints(tmp_path):
    data = write_folder_dataset(tmp_path / "data")
    run = tmp_path / "run"
    argv = [
        *train_args(data, run, steps=100_000),
        *("--set", "log_every=3", "--set", "checkpoint_every=100000"),
    ]
    log_path = tmp_path / "child.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "trigen", *argv], env=subprocess_env(), stdout=log, stderr=log
        )
        deadline = time.monotonic() + TIME_LIMIT_S
        metrics = run / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().strip()):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    text = log_path.read_text()
    assert code == 0, text
    assert "SIGTERM" in text and "Traceback" not in text
    stopped_at = int(re.search(r"done: step (\d+)", text).group(1))
    assert 3 <= stopped_at < 100_000
    path = run / "checkpoints" / f"step-{stopped_at:08d}"
    state = ckpt_io.verify(path)
    assert state["step"] == stopped_at and state["images_seen"] == stopped_at * 8
    assert [p.name for p in ckpt_io.list_checkpoints(run / "checkpoints")] == [path.name]
