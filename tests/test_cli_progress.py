"""``trigen train/sample/eval``: progress lines when not on a terminal, ``--quiet``, and
``--logger tensorboard`` event files."""

import re

import pytest

from trigen.cli import main

TINY_DIT = ["--set", "model_overrides={depth=1, hidden=32, heads=2}"]
PROGRESS_LINE = re.compile(r"^(train|sample|eval|samples\.png): +\d+% \(.*$", re.MULTILINE)


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def train(capsys, out, *extra):
    return run(
        capsys, "train", "--family", "dit", "--resolution", "8", "--batch-size", "4",
        "--out", str(out), "--no-sample-grid", *TINY_DIT, *extra,
    )  # fmt: skip


def progress_lines(text: str, label: str) -> list[str]:
    return [m.group(0) for m in PROGRESS_LINE.finditer(text) if m.group(1) == label]


@pytest.mark.slow
def test_tensorboard_logger_writes_scalars_and_sample_grids(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    code, text = train(
        capsys, out, "--images", "64", "--logger", "tensorboard",
        "--set", "log_every=4", "--set", "checkpoint_every=8",
    )  # fmt: skip
    assert code == 0, text
    assert (out / "metrics.jsonl").exists()  # always written: compare and resume read it
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/images_per_s"):
        assert tag in tags["scalars"]
        # one value per log step (16 steps, every 4), on an x axis of images seen
        assert [e.step for e in events.Scalars(tag)] == [16, 32, 48, 64]
    grids = events.Images("samples/ema")
    assert [g.step for g in grids] == [32, 64]  # each checkpoint, the last one at the end
    assert grids[-1].width > 8 * 8  # a grid of 8 samples a row


@pytest.mark.slow
def test_plain_progress_when_not_a_terminal_and_quiet(tmp_path, capsys):
    code, text = train(capsys, tmp_path / "a", "--steps", "20")
    assert code == 0, text
    lines = progress_lines(text, "train")
    assert 1 <= len(lines) <= 11
    assert lines[-1].startswith("train: 100% (20/20 steps")
    assert "done: step 20" in text  # the usual log lines stay

    code, text = train(capsys, tmp_path / "b", "--steps", "20", "--quiet")
    assert code == 0, text
    assert progress_lines(text, "train") == [] and "done: step 20" in text


@pytest.mark.slow
def test_sample_and_eval_report_progress_in_images(tmp_path, capsys):
    out = tmp_path / "run"
    code, text = train(capsys, out, "--steps", "1")
    assert code == 0, text
    png = tmp_path / "grid.png"
    sample = ["sample", "--checkpoint", str(out), "--n", "6", "--batch-size", "2"]
    code, text = run(capsys, *sample, "--steps", "2", "--out", str(png))
    assert code == 0, text
    lines = progress_lines(text, "sample")
    assert 1 <= len(lines) <= 11 and lines[-1].startswith("sample: 100% (6/6 images")
    code, text = run(capsys, *sample, "--steps", "2", "--out", str(png), "--quiet")
    assert code == 0 and progress_lines(text, "sample") == [], text

    evaluate = ["eval", "--checkpoint", str(out), "--max-images", "8", "--batch-size", "4"]
    code, text = run(capsys, *evaluate)
    assert code == 0, text
    lines = progress_lines(text, "eval")
    assert lines and lines[-1].startswith("eval: 100% (8/8 images")
    code, text = run(capsys, *evaluate, "--quiet")
    assert code == 0 and progress_lines(text, "eval") == [], text


def test_logger_choices_are_checked_at_the_edge(tmp_path, capsys, monkeypatch):
    code, text = train(capsys, tmp_path / "x", "--steps", "1", "--logger", "wandb")
    assert code == 2 and "unknown logger 'wandb'" in text and "tensorboard" in text
    assert not (tmp_path / "x").exists()

    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name)
    )
    code, text = train(capsys, tmp_path / "y", "--steps", "1", "--logger", "jsonl,tensorboard")
    assert code == 2 and "pip install 'trigen[tb]'" in text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text
    assert not (tmp_path / "y").exists()
