"""The command line end to end on tiny settings; user errors are one line with exit ≠ 0."""

import json

import numpy as np
import pytest
from PIL import Image

from trigen.cli import main

TINY_DIT = ["--set", "model_overrides={depth=1, hidden=32, heads=2}"]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.slow
def test_train_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    train = ("train", "--family", "dit", "--batch-size", "16", "--out", str(out),
             "--no-sample-grid", "--set", "log_every=2", *TINY_DIT)  # fmt: skip
    code, text = run(capsys, *train, "--steps", "6")
    assert code == 0, text
    assert (out / "checkpoints" / "step-00000006" / "state.json").exists()
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]

    grid = tmp_path / "grid.png"
    code, text = run(
        capsys,
        "sample",
        "--checkpoint",
        str(out),
        "--labels",
        "0,1",
        "--n",
        "4",
        "--steps",
        "3",
        "--cfg",
        "2.0",
        "--out",
        str(grid),
        "--images-dir",
        str(tmp_path / "each"),
    )
    assert code == 0, text
    assert Image.open(grid).size[0] > 28
    files = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert files == ["00000_class0.png", "00001_class1.png", "00002_class0.png", "00003_class1.png"]
    assert np.asarray(Image.open(tmp_path / "each" / files[0])).shape == (28, 28)

    # --compile: the same images from the compiled network (float rounding may move a level)
    compiled_grid = tmp_path / "grid-compiled.png"
    sample_args = ["--labels", "0,1", "--n", "4", "--steps", "3", "--cfg", "2.0"]
    code, text = run(
        capsys,
        "sample",
        "--checkpoint",
        str(out),
        *sample_args,
        "--out",
        str(compiled_grid),
        "--compile",
    )
    assert code == 0, text
    compiled = np.asarray(Image.open(compiled_grid)).astype(int)
    assert np.abs(compiled - np.asarray(Image.open(grid)).astype(int)).max() <= 1

    # a second training run into the same directory without --resume must not touch the checkpoints
    code, text = run(
        capsys, "train", "--family", "dit", "--steps", "2", "--out", str(out), *TINY_DIT
    )
    assert code == 2 and "--resume" in text
    assert (out / "checkpoints" / "step-00000006").exists()

    code, text = run(capsys, *train, "--steps", "8", "--resume")
    assert code == 0, text
    assert (out / "checkpoints" / "step-00000008").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--family", "dit", "--model", "DiT-Q/9", "--steps", "1"], "unknown DiT preset"),
        (["train", "--steps", "1", "--dataset", "nope"], "nope"),
        (
            [
                "train",
                "--steps",
                "1",
                "--dataset",
                "folder",
                "--data-root",
                "/no/such/dir",
                "--resolution",
                "16",
            ],
            "/no/such/dir",
        ),
        (["train", "--steps", "0"], "max_steps"),
        (["train", "--lr", "nan", "--steps", "1"], "lr"),
        (["train"], "budget"),
        (["train", "--flops", "-1"], "max_flops must be positive"),
        (["train", "--flops", "1e6"], "max_flops 1e+06 is less than one optimizer step's"),
        (["sample", "--checkpoint", "/no/such/ckpt"], "does not exist"),
        (["sample", "--checkpoint", ".", "--sampler", "euler_magic"], "unknown sampler"),
        (["sample", "--checkpoint", ".", "--steps", "0"], "positive"),
        (["sample", "--checkpoint", ".", "--grid", "exponential"], "trailing, linspace, karras"),
        (["sample", "--checkpoint", ".", "--grid", "karras", "--rho", "0"], "--rho"),
        (["sample", "--checkpoint", ".", "--sampler", "heun", "--s-churn", "-1"], "≥ 0"),
        (["sample", "--checkpoint", ".", "--s-tmin", "2", "--s-tmax", "1"], "--s-tmax"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, argv, needle):
    argv = [*argv, "--out", str(tmp_path / "o")] if argv[0] == "train" else argv
    code, text = run(capsys, *argv)
    assert code != 0
    assert needle in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) <= 2  # the 'training …' banner at most, then the error


def test_a_flops_budget_below_one_step_exits_2_before_training(tmp_path, capsys):
    out = tmp_path / "o"
    code, text = run(capsys, "train", "--flops", "1e9", "--batch-size", "4", "--out", str(out))
    assert code == 2 and "FLOPs (4 images ×" in text and "Traceback" not in text
    assert not (out / "checkpoints").exists()


def test_help_lists_commands(capsys):
    code, text = run(capsys, "--help")
    assert code == 0 and "train" in text and "sample" in text


def test_sample_compile_leaves_autoregressive_families_eager(tmp_path, capsys):
    out = tmp_path / "ar"
    tiny_ar = ["--set", "model_overrides={depth=1, width=32, heads=2}"]
    code, text = run(
        capsys, "train", "--family", "ar", "--resolution", "8", "--steps", "2",
        "--batch-size", "4", "--out", str(out), "--no-sample-grid", *tiny_ar,
    )  # fmt: skip
    assert code == 0, text
    grid = tmp_path / "ar.png"
    code, text = run(
        capsys, "sample", "--checkpoint", str(out), "--n", "2", "--out", str(grid), "--compile"
    )
    assert code == 0, text
    assert "uncompiled" in text and grid.exists()


@pytest.fixture(scope="module")
def tiny_dit(tmp_path_factory):
    """A one-step DiT run at 8 px that the sampling tests read (and never write to)."""
    out = tmp_path_factory.mktemp("cli") / "dit"
    argv = ["train", "--family", "dit", "--resolution", "8", "--steps", "1", "--batch-size", "4"]
    assert main([*argv, "--out", str(out), "--no-sample-grid", *TINY_DIT]) == 0
    return out


def test_sample_grid_option(tiny_dit, tmp_path, capsys):
    """--grid picks the σ grid: DDIM's default is the trailing grid, karras gives other images."""
    grids = {}
    for grid in (None, "trailing", "karras"):
        png = tmp_path / f"{grid}.png"
        extra = [] if grid is None else ["--grid", grid]
        extra += ["--rho", "5"] if grid == "karras" else []  # ρ shapes the karras grid only
        argv = [
            "sample",
            "--checkpoint",
            str(tiny_dit),
            "--n",
            "2",
            "--steps",
            "3",
            "--out",
            str(png),
        ]
        code, text = run(capsys, *argv, *extra)
        assert code == 0, text
        grids[grid] = np.asarray(Image.open(png)).astype(int)
    assert np.array_equal(grids[None], grids["trailing"])
    assert not np.array_equal(grids["trailing"], grids["karras"])


def test_sample_warns_of_heun_below_nfe_10(tiny_dit, tmp_path, capsys):
    """Heun under NFE 10 gets a one-line warning that names the NFE; from NFE 11 on none."""
    said = {}
    for steps in (5, 6):
        argv = ["sample", "--checkpoint", str(tiny_dit), "--n", "1", "--sampler", "heun"]
        code, said[steps] = run(
            capsys, *argv, "--steps", str(steps), "--out", str(tmp_path / "g.png")
        )
        assert code == 0, said[steps]
    assert "NFE 9" in said[5] and "warning" in said[5]
    assert "warning" not in said[6]
