"""The bad-input catalog: every mistake gives one error line naming the problem and the fix,
exit ≠ 0, no traceback, and nothing already on disk lost."""

from __future__ import annotations

import errno
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trigen import api, runner
from trigen.config import load_config
from trigen.data.datasets import load_dataset
from trigen.errors import TrigenError
from trigen.train import checkpoint as ckpt_io
from trigen.train.lock import RunLock

from .helpers import (
    IMAGE_SIDE,
    TINY_MODEL,
    assert_nothing_lost,
    assert_one_line_error,
    run_cli,
    snapshot,
    train_args,
    write_folder_dataset,
)

TRAINED_STEPS = 4  # checkpoints at steps 2 and 4


def _train(data: Path, out: Path, *overrides: str) -> Path:
    """A tiny DiT trained for TRAINED_STEPS through the Python API (no signal handlers)."""
    cfg = load_config(
        None,
        [
            "model_overrides={depth=1, hidden=32, heads=2}",
            "checkpoint_every=2",
            "log_every=1000",
            *overrides,
        ],
        family="dit",
        dataset="folder",
        data_root=str(data),
        resolution=IMAGE_SIDE,
        batch_size=8,
        max_steps=TRAINED_STEPS,
    )
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        api.train(cfg, out, device="cpu")
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trained")
    data = write_folder_dataset(root / "data")
    return {
        "data": data,
        "conditional": _train(data, root / "conditional"),
        "unconditional": _train(data, root / "unconditional", "conditional=false"),
    }


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A private copy of the conditional run, free to damage."""
    return Path(shutil.copytree(trained["conditional"], tmp_path / "run"))


def quick_sample(checkpoint: Path, tmp_path: Path, *extra: str) -> list[str]:
    """``trigen sample`` arguments for 2 images in 2 steps from ``checkpoint``."""
    grid = tmp_path / "grid.png"
    return ["sample", "--checkpoint", str(checkpoint), "--out", str(grid), "--n", "2",
            "--steps", "2", "--device", "cpu", *extra]  # fmt: skip


# ----------------------------------------------------------------------------------- datasets
def test_missing_dataset_dir(capsys, tmp_path):
    code, text = run_cli(capsys, *train_args(tmp_path / "nowhere", tmp_path / "out", steps=1))
    assert_one_line_error(code, text, "nowhere", "does not exist", "check the path")


def test_empty_dataset_dir(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, text = run_cli(capsys, *train_args(tmp_path / "empty", tmp_path / "out", steps=1))
    assert_one_line_error(code, text, "no class subfolders", "put images in")


def test_class_folder_without_images(capsys, tmp_path):
    data = write_folder_dataset(tmp_path / "data")
    (data / "c").mkdir()
    (data / "c" / "notes.txt").write_text("not an image")
    code, text = run_cli(capsys, *train_args(data, tmp_path / "out", steps=1))
    assert_one_line_error(code, text, "has no images", "add some or remove it")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_or_truncated_image(capsys, tmp_path, damage):
    data = write_folder_dataset(tmp_path / "data")
    bad = data / "b" / "005.png"
    content = bad.read_bytes()
    bad.write_bytes(
        {"garbage": b"\x89PNG not really", "truncated": content[: len(content) // 2], "empty": b""}[
            damage
        ]
    )
    before = snapshot(data)
    code, text = run_cli(capsys, *train_args(data, tmp_path / "out", steps=1))
    assert_one_line_error(code, text, "005.png", "remove or replace")
    assert_nothing_lost(before, data)


def test_decompression_bomb_is_refused(capsys, tmp_path, monkeypatch):
    data = write_folder_dataset(tmp_path / "data")
    Image.new("L", (64, 64)).save(data / "a" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64² > 2 × the limit: Pillow's error
    code, text = run_cli(capsys, *train_args(data, tmp_path / "out", steps=1))
    assert_one_line_error(code, text, "big.png", "remove or replace")


def _odd_images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (13, 7, 3), dtype=np.uint8))
    return {
        "gray.png": rgb.convert("L"),
        "gray_alpha.png": rgb.convert("LA"),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P"),
        "bilevel.png": rgb.convert("1"),
        "sixteen.png": Image.fromarray(rng.integers(0, 65536, (9, 9), dtype=np.uint16)),
        "cmyk.jpg": rgb.convert("CMYK"),
        "wide.png": rgb.resize((40, 3)),
        "tiny.png": rgb.resize((1, 1)),
    }


def test_unexpected_modes_and_sizes_are_converted(capsys, tmp_path):
    data = tmp_path / "data"
    for name, img in _odd_images().items():
        (data / "odd").mkdir(parents=True, exist_ok=True)
        img.save(data / "odd" / name)
    dataset = load_dataset("folder", "train", root=data, resolution=IMAGE_SIDE)
    assert dataset.images.shape == (len(_odd_images()), 3, IMAGE_SIDE, IMAGE_SIDE)
    assert dataset.images.dtype == torch.uint8
    gray = dataset.images[sorted(_odd_images()).index("gray.png")]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])  # gray stays gray
    code, text = run_cli(capsys, *train_args(data, tmp_path / "out", steps=1, batch=4))
    assert code == 0, text
    assert ckpt_io.latest_valid(tmp_path / "out" / "checkpoints") is not None


def test_mnist_file_with_wrong_sha256(capsys, tmp_path):
    root = tmp_path / "mnist"
    root.mkdir()
    with gzip.open(root / "mnist.pkl.gz", "wb") as f:
        f.write(b"\x80\x04N.")  # a valid pickle of None: only the digest can tell
    before = snapshot(root)
    argv = ["train", *TINY_MODEL, "--dataset", "mnist", "--data-root", str(root), "--steps", "1"]
    code, text = run_cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert_one_line_error(code, text, "sha256", "expected", "reinstall")
    assert_nothing_lost(before, root)


def test_truncated_idx_file(capsys, tmp_path):
    root = tmp_path / "idx"
    root.mkdir()
    header = bytes([0, 0, 0x08, 3]) + (4).to_bytes(4, "big") + (8).to_bytes(4, "big") * 2
    (root / "train-images-idx3-ubyte").write_bytes(header + bytes(100))  # 4·8·8 = 256 bytes due
    (root / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big"))
    argv = ["train", *TINY_MODEL, "--dataset", "idx", "--data-root", str(root), "--steps", "1"]
    code, text = run_cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert_one_line_error(code, text, "train-images-idx3-ubyte")


# ----------------------------------------------------------------------------------- checkpoints
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_checkpoint_falls_back_to_the_previous_one(capsys, run, tmp_path):
    newest = run / "checkpoints" / f"step-{TRAINED_STEPS:08d}"
    _truncate(newest / "ema.safetensors")
    before = snapshot(run)
    warnings: list[str] = []
    loaded = api.load(run, on_warning=warnings.append)
    assert loaded.step == TRAINED_STEPS - 2
    assert len(warnings) == 1 and newest.name in warnings[0] and "truncated" in warnings[0]
    code, text = run_cli(capsys, *quick_sample(run, tmp_path))
    assert code == 0, text
    code, text = run_cli(capsys, *quick_sample(newest, tmp_path))  # asking for it by name
    assert_one_line_error(code, text, "truncated or altered", "earlier checkpoint")
    assert_nothing_lost(before, run)


@pytest.mark.parametrize("damage", ["flip", "state_not_json", "state_step", "all"])
def test_altered_checkpoint_is_refused(capsys, run, tmp_path, damage):
    checkpoints = ckpt_io.list_checkpoints(run / "checkpoints")
    newest = checkpoints[-1]
    if damage == "flip":
        data = bytearray((newest / "model.safetensors").read_bytes())
        data[-3] ^= 0x01
        (newest / "model.safetensors").write_bytes(bytes(data))
        needles = ("truncated or altered",)
    elif damage == "state_not_json":
        (newest / "state.json").write_text('{"format": 1, "step"')
        needles = ("corrupt", "earlier checkpoint")
    elif damage == "state_step":
        state = json.loads((newest / "state.json").read_text())
        (newest / "state.json").write_text(json.dumps({**state, "step": "../../x"}))
        needles = ("malformed or altered", "earlier checkpoint")
    else:
        for path in checkpoints:
            _truncate(path / "model.safetensors")
        newest = run
        needles = ("no valid checkpoint",)
    before = snapshot(run)
    code, text = run_cli(capsys, *quick_sample(newest, tmp_path))
    assert_one_line_error(code, text, *needles)
    assert_nothing_lost(before, run)


def test_checkpoint_of_another_model(capsys, run, tmp_path):
    newest = ckpt_io.list_checkpoints(run / "checkpoints")[-1]
    state = json.loads((newest / "state.json").read_text())
    state["config"]["model_overrides"]["hidden"] = 64  # the tensors still say 32
    (newest / "state.json").write_text(json.dumps(state))
    before = snapshot(run)
    code, text = run_cli(capsys, *quick_sample(newest, tmp_path))
    assert_one_line_error(code, text, "another model", "use the checkpoint's own config")
    assert_nothing_lost(before, run)


def test_resume_with_another_configuration(capsys, run, trained):
    before = snapshot(run)
    argv = train_args(trained["data"], run, steps=TRAINED_STEPS + 2)
    argv[argv.index("model_overrides={depth=1, hidden=32, heads=2}")] = (
        "model_overrides={depth=2, hidden=32, heads=2}"
    )
    code, text = run_cli(capsys, *argv, "--set", "checkpoint_every=2", "--resume")
    assert_one_line_error(code, text, "cannot resume", "model_overrides", "new run directory")
    assert_nothing_lost(before, run)


def test_second_run_on_a_locked_directory(capsys, run, trained):
    before = snapshot(run)
    with RunLock(run):
        code, text = run_cli(capsys, *train_args(trained["data"], run, steps=9), "--resume")
    assert_one_line_error(code, text, "another trigen process", "another --out")
    assert_nothing_lost(before, run)


def test_out_of_disk_while_checkpointing(capsys, run, trained, monkeypatch):
    real_save_file = ckpt_io.save_file
    calls = []

    def save_file_then_disk_full(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 2:  # the first file of the new checkpoint landed, the second does not
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real_save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(ckpt_io, "save_file", save_file_then_disk_full)
    before = snapshot(run / "checkpoints")  # config.json legitimately records the new budget
    argv = train_args(trained["data"], run, steps=TRAINED_STEPS + 2)
    code, text = run_cli(capsys, *argv, "--set", "checkpoint_every=2", "--resume")
    assert_one_line_error(code, text, "no space left", "free some disk space", "--resume")
    assert_nothing_lost(before, run / "checkpoints")
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert not leftovers
    assert ckpt_io.latest_valid(run / "checkpoints").name == f"step-{TRAINED_STEPS:08d}"


def test_out_of_disk_while_writing_run_files(capsys, run, trained, monkeypatch):
    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "atomic_write_text", disk_full)  # config.json of the run
    before = snapshot(run)
    argv = train_args(trained["data"], run, steps=TRAINED_STEPS + 2)
    code, text = run_cli(capsys, *argv, "--set", "checkpoint_every=2", "--resume")
    assert_one_line_error(code, text, "no space left", "free some disk space")
    assert_nothing_lost(before, run)


# ----------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--model", "DiT-Q/9"], ("unknown DiT preset",)),
        (["--family", "gan"], ("--family", "gan")),
        (["--dataset", "imagenet"], ("unknown dataset", "choose one of")),
        (["--set", "learning_rate=1"], ("unknown setting", "valid:")),
        (["--set", "diffusion.schedule=zigzag"], ("unknown diffusion.schedule", "choose one")),
        (["--precision", "fp8"], ("--precision", "fp8")),
    ],
)
def test_unknown_names_when_training(capsys, tmp_path, argv, needles):
    code, text = run_cli(capsys, "train", "--steps", "1", "--out", str(tmp_path / "o"), *argv)
    assert_one_line_error(code, text, *needles)


def test_unknown_sampler(capsys, trained, tmp_path):
    argv = quick_sample(trained["conditional"], tmp_path, "--sampler", "euler_magic")
    code, text = run_cli(capsys, *argv)
    assert_one_line_error(code, text, "unknown sampler", "choose one of")


# ----------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--steps", "0"], "max_steps"),
        (["--steps", "-3"], "max_steps"),
        (["--images", "0"], "max_images"),
        (["--minutes", "-1"], "max_minutes"),
        (["--batch-size", "0"], "batch_size"),
        (["--batch-size", "-8"], "batch_size"),
        (["--lr", "0"], "lr"),
        (["--lr", "-0.001"], "lr"),
        (["--lr", "nan"], "lr"),
        (["--lr", "inf"], "lr"),
        (["--minutes", "nan"], "max_minutes"),
        (["--set", "grad_clip=nan"], "grad_clip"),
        (["--set", "ema_halflife_images=nan"], "ema_halflife_images"),
        (["--set", "label_dropout=nan"], "label_dropout"),
        (["--set", "diffusion.min_snr_gamma=nan"], "min_snr_gamma"),
        (["--set", "warmup_images=-5"], "warmup_images"),
        (["--set", "checkpoint_every=0"], "checkpoint_every"),
    ],
)
def test_out_of_range_numbers(capsys, tmp_path, argv, name):
    code, text = run_cli(capsys, "train", "--steps", "1", "--out", str(tmp_path / "o"), *argv)
    assert_one_line_error(code, text, name)
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_nan_in_a_config_file(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("family = 'dit'\nlr = nan\nmax_steps = 1\n")
    code, text = run_cli(capsys, "train", "--config", str(config), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, text, "lr", "positive finite")


# ----------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("labels", ["42", "-1", "2", "one"])
def test_labels_out_of_range(capsys, trained, tmp_path, labels):
    argv = quick_sample(trained["conditional"], tmp_path, "--labels", labels)
    code, text = run_cli(capsys, *argv)
    assert_one_line_error(code, text, "labels")
    assert not (tmp_path / "grid.png").exists()


def test_cfg_on_an_unconditional_model(capsys, trained, tmp_path):
    code, text = run_cli(capsys, *quick_sample(trained["unconditional"], tmp_path, "--cfg", "2"))
    assert_one_line_error(code, text, "unconditional", "cfg=1")
    code, text = run_cli(capsys, *quick_sample(trained["unconditional"], tmp_path, "--labels", "1"))
    assert_one_line_error(code, text, "unconditional", "drop --labels")
    code, text = run_cli(capsys, *quick_sample(trained["unconditional"], tmp_path))
    assert code == 0, text  # without guidance it samples


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--steps", "0"], "--steps"),
        (["--n", "-1"], "--n"),
        (["--cfg", "nan"], "--cfg"),
        (["--temperature", "0"], "--temperature"),
        (["--top-p", "1.5"], "--top-p"),
    ],
)
def test_sampling_numbers(capsys, trained, tmp_path, argv, needle):
    code, text = run_cli(capsys, *quick_sample(trained["conditional"], tmp_path), *argv)
    assert_one_line_error(code, text, needle)


def test_weights_file_with_wrong_sha256(tmp_path):
    from trigen.eval.inception import load_inception

    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"PK\x03\x04 not the Inception network")
    with pytest.raises(TrigenError, match="sha256") as info:
        load_inception(fake)
    assert "\n" not in str(info.value) and "pip install" in str(info.value)


# ----------------------------------------------------------------------------------- run options
def test_seed_out_of_range(capsys, trained, tmp_path):
    argv = train_args(trained["data"], tmp_path / "out", steps=1)
    code, text = run_cli(capsys, *argv, "--seed", str(2**70))
    assert_one_line_error(code, text, "seed", "0..")


def test_unusable_out_directory(capsys, trained, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    code, text = run_cli(capsys, *train_args(trained["data"], tmp_path / "a-file" / "run", steps=1))
    assert_one_line_error(code, text, "a-file", "choose another --out")
    assert (tmp_path / "a-file").read_text() == "not a directory"
