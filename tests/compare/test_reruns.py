"""The same ``trigen compare`` command twice gives the same results.json apart from the fields it
lists as volatile (timings, the host, the invocation); a comparison killed at random moments
and resumed ends with the results of an uninterrupted one; ``--resume`` refuses what it cannot
continue in one line."""

from __future__ import annotations

import json
import random
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
import torch

from trigen.compare.pieces import PIECES_DIR, RUN_FILE
from trigen.report.volatile import without_volatile

from ..reliability.helpers import PYTHON, assert_one_line_error, run_cli, subprocess_env

# two diffusion families at 8 px on 64 images each, a study of guidance and one of receptive
# fields, and a claim that trains runs of its own (C5, DiT sizes at 64 images each): 5 pieces
TINY = [
    *("compare", "--preset", "smoke", "--families", "unet,dit", "--images", "64"),
    *("--fid-samples", "8", "--reference-images", "8"),
    *("--studies", "cfg,receptive_field", "--claims", "C5", "--device", "cpu"),
]
PIECES = 5
KILLS = 3
POLL_S = 0.02
TIME_LIMIT_S = 1800  # a hung child fails the test instead of hanging CI


def tiny(out: Path, cache: Path, *extra: str) -> list[str]:
    return [*TINY, "--out", str(out), "--cache-dir", str(cache), *extra]


def stable(out: Path) -> dict:
    """``out/results.json`` without the fields it says may differ between reruns, and without
    the code's commit (a commit landing in this checkout while the test runs changes it)."""
    results = json.loads((out / "results.json").read_text())
    results["meta"].pop("commit", None)
    return without_volatile(results, results["volatile_fields"])


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON documents differ, as JSON Pointers (for a failure's message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [*a, *(k for k in b if k not in a)]
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}/{i}")]
    return [] if a == b else [path]


def run_in_process(argv: list[str]) -> str:
    """Run ``trigen argv`` here on one thread, as the test processes do; returns its output."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from trigen.cli import main

    before, text = torch.get_num_threads(), io.StringIO()
    torch.set_num_threads(1)
    try:
        with redirect_stdout(text), redirect_stderr(text):
            code = main(argv)
    finally:
        torch.set_num_threads(before)
    assert code == 0, text.getvalue()
    return text.getvalue()


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run of the tiny comparison, with a cache of its own."""
    root = tmp_path_factory.mktemp("straight")
    run_in_process(tiny(root / "out", root / "cache"))
    return root / "out"


def test_the_same_command_twice_gives_the_same_results(straight, tmp_path):
    again = tmp_path / "again"
    run_in_process(tiny(again, tmp_path / "cache"))  # a cold cache: judges trained anew
    first = json.loads((straight / "results.json").read_text())
    assert (
        first["volatile_fields"]
        == json.loads((again / "results.json").read_text())["volatile_fields"]
    )
    assert stable(again) == stable(straight), differences(stable(again), stable(straight))
    # what stays is what a reader compares: every family's headline numbers, the studies, the
    # claims; what goes is only timing and the host
    kept = stable(straight)
    for record in kept["families"].values():
        assert {"fid", "kid_x1000", "cond_accuracy"} <= set(record["quality"])
        assert record["nll"]["bits_per_dim"] > 0 and record["train"]["images_seen"] == 64
        assert "seconds" not in record["train"] and "latency_s_per_image" not in record["sampling"]
    assert {"cfg", "receptive_field"} <= set(kept["studies"])
    assert [c["id"] for c in kept["claims"] if c["verdict"] != "not_run"] == ["C5"]
    assert "date" not in kept["meta"] and "host" not in kept["meta"]
    assert {"dataset", "budget", "image_shape"} <= set(kept["meta"])


def finished_pieces(out: Path) -> int:
    """How many pieces of the comparison in ``out`` have finished."""
    return sum(path.name != RUN_FILE for path in (out / PIECES_DIR).rglob("*.json"))


def entries(out: Path) -> int:
    """Files and directories under ``out``: run directories, checkpoints (and their temporary
    copies), grids, figures, pieces appear one by one as a comparison goes."""
    return sum(1 for _ in out.rglob("*")) if out.exists() else 0


def wait_until(proc: subprocess.Popen, count, at_least: int, deadline: float) -> bool:
    """Block until ``count() >= at_least``; False if the child exited first."""
    while count() < at_least:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the compare child made no progress in time"
        time.sleep(POLL_S)
    return True


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_results(straight, tmp_path):
    """Each round lets the child finish a piece, then kills it as soon as a random number (1 to
    12) of further files or directories appeared under its output: mid-training, mid-write of a
    checkpoint, a grid or a piece, mid-measuring. Counted in the child's own progress, not in
    seconds, so a busy machine moves the kills no later."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    rng = random.Random(27)
    deadline = time.monotonic() + TIME_LIMIT_S
    killed_at: list[int] = []
    while len(killed_at) < KILLS:
        argv = tiny(out, cache, *(["--resume"] if killed_at else []))
        log_path = tmp_path / f"child-{len(killed_at)}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [PYTHON, "-m", "trigen", *argv], env=subprocess_env(), stdout=log, stderr=log
            )
            try:
                before = finished_pieces(out) if out.exists() else 0
                if wait_until(proc, partial(finished_pieces, out), before + 1, deadline):
                    target = entries(out) + rng.randint(1, 12)
                    wait_until(proc, partial(entries, out), target, deadline)
            finally:  # a failing wait leaves no child behind
                finished = proc.poll() is not None
                proc.kill()
                proc.wait()
        if finished:  # it finished every piece first
            assert proc.returncode == 0, log_path.read_text()
            break
        killed_at.append(finished_pieces(out))
    assert killed_at, "the child finished before any kill"
    # the last resumption, here: the bare form takes the run's own settings
    text = run_in_process(["compare", "--resume", "--out", str(out), "--cache-dir", str(cache)])
    assert "trained and measured earlier" in text
    assert finished_pieces(out) == PIECES
    assert stable(out) == stable(straight), differences(stable(out), stable(straight))
    print(f"killed after {killed_at} of {PIECES} pieces had finished")


def test_resume_refuses_a_directory_without_a_run_and_changed_settings(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, text = run_cli(capsys, *tiny(empty, tmp_path / "cache", "--resume"))
    assert_one_line_error(code, text, "no compare run", str(empty))
    assert code == 2 and not any(empty.iterdir())
    # a directory whose run began (its settings written down) but finished nothing
    out = tmp_path / "out"
    from trigen.compare.pieces import settings_record
    from trigen.compare.settings import compare_settings

    s = compare_settings("smoke", images_per_family=64)
    record = settings_record(s, {}, "cpu")
    (out / PIECES_DIR).mkdir(parents=True)
    (out / PIECES_DIR / RUN_FILE).write_text(json.dumps({"format": 1, **record}))
    before = sorted(p.name for p in (out / PIECES_DIR).iterdir())
    code, text = run_cli(capsys, *tiny(out, tmp_path / "cache", "--resume"))
    line = assert_one_line_error(code, text, "--resume", "families", "differs")
    assert code == 2 and '["unet", "dit", "ar", "maskgit"]' in line
    # without --resume, a directory that holds a run is not started over
    code, text = run_cli(capsys, *tiny(out, tmp_path / "cache"))
    assert_one_line_error(code, text, "already holds a compare run", "--resume")
    assert sorted(p.name for p in (out / PIECES_DIR).iterdir()) == before
