"""A tiny ``trigen compare`` run, killed with SIGKILL at random moments and resumed: the rounds
behind tests/compare/test_reruns.py and benchmarks/compare_kill_stress.py, and how to compare
two results files the way a rerun must reproduce them."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from trigen.compare.pieces import PIECES_DIR, RUN_FILE
from trigen.report.volatile import without_volatile

from ..reliability.helpers import PYTHON, subprocess_env

# two diffusion families at 8 px on 64 images each, a study of guidance and one of receptive
# fields, and a claim that trains runs of its own (C5, DiT sizes at 64 images each): 5 pieces
TINY = [
    *("compare", "--preset", "smoke", "--families", "unet,dit", "--images", "64"),
    *("--fid-samples", "8", "--reference-images", "8"),
    *("--studies", "cfg,receptive_field", "--claims", "C5", "--device", "cpu"),
]
PIECES = 5
# a kill lands once 1 to this many files or directories appeared under the output (the whole
# run makes ~110: ~25 per family, ~60 for C5's three runs), so kills spread over every piece
MAX_NEW_ENTRIES = 40
POLL_S = 0.02


def tiny(out: Path, cache: Path, *extra: str) -> list[str]:
    """``trigen`` arguments of the tiny comparison into ``out``."""
    return [*TINY, "--out", str(out), "--cache-dir", str(cache), *extra]


def stable(out: Path) -> dict:
    """``out/results.json`` without the fields it says may differ between reruns, and without
    the code's commit (a commit landing in this checkout while a test runs changes it)."""
    results = json.loads((out / "results.json").read_text())
    results["meta"].pop("commit", None)
    return without_volatile(results, results["volatile_fields"])


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON documents differ, as JSON Pointers."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [*a, *(k for k in b if k not in a)]
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}/{i}")]
    return [] if a == b else [path]


def finished_pieces(out: Path) -> int:
    """How many pieces of the comparison in ``out`` have finished."""
    return sum(path.name != RUN_FILE for path in (out / PIECES_DIR).rglob("*.json"))


def begun(out: Path) -> int:
    """1 once the comparison in ``out`` has written down its settings (it can be resumed)."""
    return int((out / PIECES_DIR / RUN_FILE).is_file())


def entries(out: Path) -> int:
    """Files and directories under ``out``: run directories, checkpoints (and their temporary
    copies), grids, figures, pieces appear one by one as a comparison goes."""
    return sum(1 for _ in out.rglob("*")) if out.exists() else 0


def wait_until(
    proc: subprocess.Popen, count: Callable[[], int], at_least: int, deadline: float
) -> bool:
    """Block until ``count() >= at_least``; False if the child exited first."""
    while count() < at_least:
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise TimeoutError("the compare child made no progress in time")
        time.sleep(POLL_S)
    return True


def kill_rounds(
    out: Path, cache: Path, rng: random.Random, kills: int, deadline: float, logs: Path
) -> list[int]:
    """Start the tiny comparison into ``out`` (resuming from the second round on) and SIGKILL
    it once a random number of files or directories appeared under ``out`` after it wrote down
    its settings: mid-training, mid-write of a checkpoint, a grid or a piece, mid-measuring,
    counted in the child's own progress rather than in seconds, so a busy host moves the kills
    no later. Up to ``kills`` rounds, fewer when a child finishes first. Returns how many pieces
    had finished at each kill; each child's output is in ``logs/child-<round>.log``."""
    killed_at: list[int] = []
    while len(killed_at) < kills:
        log_path = logs / f"child-{len(killed_at)}.log"
        argv = tiny(out, cache, *(["--resume"] if killed_at else []))
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [PYTHON, "-m", "trigen", *argv], env=subprocess_env(), stdout=log, stderr=log
            )
            try:
                if wait_until(proc, partial(begun, out), 1, deadline):
                    target = entries(out) + rng.randint(1, MAX_NEW_ENTRIES)
                    wait_until(proc, partial(entries, out), target, deadline)
            finally:  # a failing wait leaves no child behind
                finished = proc.poll() is not None
                proc.kill()
                proc.wait()
        if finished:  # it finished every piece first
            if proc.returncode != 0:
                raise RuntimeError(f"the compare child failed:\n{log_path.read_text()}")
            break
        killed_at.append(finished_pieces(out))
    return killed_at
