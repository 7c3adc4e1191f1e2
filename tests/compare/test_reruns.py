"""The same ``trigen compare`` command twice gives the same results.json apart from the fields it
lists as volatile (timings, the host, the invocation); a comparison killed at random moments
and resumed ends with the results of an uninterrupted one; ``--resume`` refuses what it cannot
continue in one line."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest
import torch

from trigen.compare.pieces import PIECES_DIR, RUN_FILE

from ..reliability.helpers import PYTHON, assert_one_line_error, run_cli, subprocess_env
from .kill_helpers import PIECES, differences, finished_pieces, kill_rounds, stable, tiny

KILLS = 3
TIME_LIMIT_S = 1800  # a hung child fails the test instead of hanging CI


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
    # another process (its own hash seed: a set's order differs) with a cold cache (the judges
    # trained anew), on one thread as here
    env = {**subprocess_env(), "PYTHONHASHSEED": "27"}
    done = subprocess.run(
        [PYTHON, "-m", "trigen", *tiny(again, tmp_path / "cache")], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
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


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_results(straight, tmp_path):
    """Killed at random moments (:func:`kill_rounds`), then resumed here to the end: the results
    of an uninterrupted run."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    deadline = time.monotonic() + TIME_LIMIT_S
    killed_at = kill_rounds(out, cache, random.Random(27), KILLS, deadline, tmp_path)
    assert killed_at, "the child finished before any kill"
    # the last resumption, here: the bare form takes the run's own settings
    text = run_in_process(["compare", "--resume", "--out", str(out), "--cache-dir", str(cache)])
    assert "trained and measured earlier" in text
    assert finished_pieces(out) == PIECES
    assert stable(out) == stable(straight), differences(stable(out), stable(straight))
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert "--resume" not in meta["command"]  # the command that began the run, kept in run.json
    assert "--resume" in meta["resumed_with"] and meta["resumed_at"] >= meta["date"]
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
    from trigen.experiment.settings import compare_settings

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
