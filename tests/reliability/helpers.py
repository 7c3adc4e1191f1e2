"""Tiny datasets, the tiny DiT command line and a snapshot of what lies on disk."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from trigen.cli import main

# A one-block DiT on 8×8 colour images: a training step takes milliseconds.
TINY_MODEL = ["--family", "dit", "--set", "model_overrides={depth=1, hidden=32, heads=2}"]
IMAGE_SIDE = 8
CLASSES = ("a", "b")
IMAGES_PER_CLASS = 16


def write_folder_dataset(root: Path, *, per_class: int = IMAGES_PER_CLASS) -> Path:
    """A ``root/<class>/<i>.png`` image folder of random 8×8 RGB images; returns ``root``."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def train_args(data: Path, out: Path, *, steps: int, batch: int = 8) -> list[str]:
    """``trigen train`` arguments for the tiny DiT on the folder dataset at ``data``."""
    return [
        "train",
        *TINY_MODEL,
        "--dataset",
        "folder",
        "--data-root",
        str(data),
        "--resolution",
        str(IMAGE_SIDE),
        "--batch-size",
        str(batch),
        "--steps",
        str(steps),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-sample-grid",
        "--set",
        "log_every=1000",
    ]


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """Run ``trigen argv`` in this process; returns (exit code, stdout + stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def error_lines(text: str) -> list[str]:
    """The lines of CLI output that report an error."""
    return [line for line in text.splitlines() if line.lower().startswith("error:")]


def assert_one_line_error(code: int, text: str, *needles: str) -> str:
    """Exit ≠ 0, no traceback, exactly one error line, naming every ``needle``; returns it."""
    assert code != 0, text
    assert "Traceback" not in text, text
    lines = error_lines(text)
    assert len(lines) == 1, text
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (the run lock excluded)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".trigen.lock"
    }


def assert_nothing_lost(before: dict[str, str], root: Path) -> None:
    """Every file of ``before`` is still under ``root`` with the same contents."""
    after = snapshot(root)
    changed = {name for name, digest in before.items() if after.get(name) != digest}
    assert not changed, f"lost or altered: {sorted(changed)}"


def subprocess_env() -> dict[str, str]:
    """Environment for a ``python -m trigen`` child: one thread, this interpreter's trigen."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


PYTHON = sys.executable
