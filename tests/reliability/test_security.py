"""Nothing trigen reads may run code, and nothing a checkpoint or a planted link says can make
trigen write outside the run directory."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
from pathlib import Path

import pytest

from trigen.cli import main
from trigen.data.mnist import read_mnist_pickle, sha256_of
from trigen.errors import CheckpointError, TrigenError
from trigen.train import checkpoint as ckpt_io

from .helpers import (
    assert_nothing_lost,
    assert_one_line_error,
    run_cli,
    snapshot,
    train_args,
    write_folder_dataset,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "trigen"


class TouchMarker:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_pickle(marker: Path) -> bytes:
    payload = pickle.dumps((TouchMarker(marker), None, None), protocol=2)
    assert b"system" in payload  # the payload really names os.system
    return payload


def test_malicious_mnist_file_is_refused(capsys, tmp_path):
    marker = tmp_path / "pwned"
    root = tmp_path / "mnist"
    root.mkdir()
    path = root / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(malicious_pickle(marker)))
    argv = ["train", "--dataset", "mnist", "--data-root", str(root), "--steps", "1"]
    code, text = run_cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert_one_line_error(code, text, "sha256")  # refused before a byte is unpickled
    # Even with a matching digest, the restricted unpickler refuses os.system.
    with pytest.raises(TrigenError, match="refusing to unpickle"):
        read_mnist_pickle(path.resolve(), sha256_of(path))
    assert not marker.exists()


def test_malicious_cifar_batch_is_refused(capsys, tmp_path):
    marker = tmp_path / "pwned"
    root = tmp_path / "cifar"
    root.mkdir()
    for name in ("data_batch_1", "batches.meta"):
        (root / name).write_bytes(malicious_pickle(marker))
    argv = ["train", "--dataset", "cifar10", "--data-root", str(root), "--steps", "1"]
    code, text = run_cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert_one_line_error(code, text, "refusing to unpickle", "genuine copy")
    assert not marker.exists()


# Each pattern is a way to run code from a file's bytes; none may appear in the library.
UNSAFE = {
    "pickle.load(": re.compile(r"\bpickle\.loads?\("),
    "weights_only=False": re.compile(r"weights_only\s*=\s*False"),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "marshal.load": re.compile(r"\bmarshal\.loads?\("),
    "yaml.load(": re.compile(r"\byaml\.load\("),
    "eval/exec": re.compile(r"(?<![.\w])(eval|exec)\("),
}


def _calls(text: str, name: str) -> list[str]:
    """The argument text of every call ``name(...)`` in ``text`` (balanced parentheses)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append(text[match.end() : end - 1])
    return found


def test_no_unsafe_deserialisation_in_src():
    sources = sorted(SRC.rglob("*.py"))
    assert len(sources) > 20
    offences = []
    for path in sources:
        text = path.read_text()
        offences += [f"{path}: {what}" for what, pattern in UNSAFE.items() if pattern.search(text)]
        offences += [
            f"{path}: torch.load without weights_only=True"
            for args in _calls(text, "torch.load")
            if not re.search(r"weights_only\s*=\s*True", args)
        ]
        if "Unpickler" in text and path.name != "safe_pickle.py":
            offences.append(f"{path}: an unpickler outside data/safe_pickle.py")
    assert not offences, offences


def test_the_grep_would_catch_an_offence():
    bad = "x = torch.load(\n    path,\n    map_location='cpu',\n)\ny = pickle.load(f)\n"
    assert _calls(bad, "torch.load") == ["\n    path,\n    map_location='cpu',\n"]
    assert UNSAFE["pickle.load("].search(bad)
    assert not UNSAFE["eval/exec"].search("model.eval()\nnet.exec_mode = 1\n")


# ----------------------------------------------------------------------------------- paths
@pytest.fixture
def run(tmp_path) -> Path:
    """A tiny trained run at tmp_path/area/run, so tmp_path/area holds nothing else."""
    data = write_folder_dataset(tmp_path / "data", per_class=4)
    out = tmp_path / "area" / "run"
    argv = [*train_args(data, out, steps=2, batch=4), "--set", "checkpoint_every=2"]
    assert main(argv) == 0
    return out


def _tamper(run: Path, **changes) -> Path:
    newest = ckpt_io.list_checkpoints(run / "checkpoints")[-1]
    state = json.loads((newest / "state.json").read_text())
    for key, value in changes.items():
        if key == "config":
            state["config"].update(value)
        else:
            state[key] = value
    (newest / "state.json").write_text(json.dumps(state))
    return newest


@pytest.mark.parametrize(
    "changes",
    [
        {"sha256": {"../../../victim": "0" * 64}},
        {"step": -7},
        {"step": "../../escaped"},
        {"config": {"out": "../../escaped"}},
    ],
    ids=["file-name", "negative-step", "string-step", "config-out"],
)
def test_crafted_state_cannot_write_outside_the_run(capsys, run, tmp_path, changes):
    area = run.parent
    victim = area / "victim"
    victim.write_text("keep me")
    newest = _tamper(run, **changes)
    before = snapshot(area)
    argv = [*train_args(tmp_path / "data", run, steps=4, batch=4), "--resume"]
    code, text = run_cli(capsys, *argv, "--set", "checkpoint_every=2")
    assert code != 0 and "Traceback" not in text
    code, text = run_cli(
        capsys, "sample", "--checkpoint", str(newest), "--out", str(run / "g.png"), "--n", "1"
    )
    assert_one_line_error(code, text, str(newest.name))
    assert_nothing_lost(before, area)
    outside = {str(p.relative_to(area)) for p in area.iterdir()} - {"run"}
    assert outside == {"victim"}, outside


def test_checkpoint_load_refuses_a_manifest_pointing_outside(run):
    newest = _tamper(run, sha256={"../../x": "0" * 64})
    with pytest.raises(CheckpointError, match="malformed or altered"):
        ckpt_io.verify(newest)


@pytest.mark.parametrize("name", ["checkpoints", "metrics.jsonl", ".trigen.lock"])
def test_links_planted_in_the_run_directory_are_refused(capsys, tmp_path, name):
    data = write_folder_dataset(tmp_path / "data", per_class=4)
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = elsewhere / "precious.txt"
    precious.write_text("keep me")
    run.mkdir()
    target = elsewhere if name == "checkpoints" else precious
    (run / name).symlink_to(target)
    code, text = run_cli(capsys, *train_args(data, run, steps=2, batch=4))
    assert_one_line_error(code, text, name)
    assert precious.read_text() == "keep me"
    assert [p.name for p in elsewhere.iterdir()] == ["precious.txt"]


def test_check_inside():
    root = Path("/srv/run")
    assert ckpt_io.check_inside(root / "checkpoints" / "step-00000001", root)
    with pytest.raises(CheckpointError, match="outside the run directory"):
        ckpt_io.check_inside(root / ".." / "x", root)
