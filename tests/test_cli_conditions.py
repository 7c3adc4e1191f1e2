"""Named conditions from the command line: train with attributes and a map, sample with them,
every bad input one line with exit 2 and nothing written (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trigen.cli import main
from trigen.data.idx import IDX_SPLIT_FILES, write_idx
from trigen.report.grids import row_labels

TINY_DIT = ["--set", "model_overrides={depth=1, hidden=32, heads=2}"]
SIDE = 16


def strokes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digit-like images: one or two thick strokes each, at random angles and widths."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    for i in range(n):
        img = Image.new("L", (SIDE, SIDE))
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(1, 3)):
            x0, y0, x1, y1 = rng.integers(2, SIDE - 2, 4)
            draw.line((x0, y0, x1, y1), fill=255, width=int(rng.integers(1, 4)))
        images[i] = np.asarray(img)
    return images, rng.integers(0, 10, n).astype(np.uint8)


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    data = root / "data"
    data.mkdir()
    for split, n in (("train", 48), ("test", 16)):
        images, labels = strokes(n, seed=n)
        image_stem, label_stem = IDX_SPLIT_FILES[split]
        write_idx(data / image_stem, images)
        write_idx(data / label_stem, labels)
    out = root / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIGEN_CACHE", str(root / "cache"))
    argv = ["train", "--family", "dit", "--dataset", "idx", "--data-root", str(data)]
    argv += ["--condition", "class,attributes,skeleton", "--steps", "1", "--batch-size", "4"]
    code = main([*argv, "--out", str(out), "--no-sample-grid", *TINY_DIT])
    mp.undo()
    assert code == 0
    return out


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_sample_with_attributes_a_map_and_per_condition_guidance(conditioned_run, tmp_path, capsys):
    skeleton = Image.new("L", (SIDE, SIDE))
    ImageDraw.Draw(skeleton).line((4, 3, 10, 12), fill=255)
    skeleton.save(tmp_path / "skeleton.png")
    grid = tmp_path / "grid.png"
    code, text = run(
        capsys, "sample", "--checkpoint", str(conditioned_run), "--n", "4", "--labels", "3",
        "--steps", "2", "--attributes", "thickness=2.5,slant=0.3",
        "--map", str(tmp_path / "skeleton.png"), "--cfg", "class=2,skeleton=1.5,attributes=3",
        "--out", str(grid),
    )  # fmt: skip
    assert code == 0, text
    assert Image.open(grid).size[1] >= SIDE
    maps = np.asarray(Image.open(tmp_path / "grid-skeleton.png").convert("L"))
    assert set(np.unique(maps)) <= {0, 255} and maps.max() == 255  # the requested maps, binary


def test_a_condition_left_out_is_sampled_unconditionally_along_it(
    conditioned_run, tmp_path, capsys
):
    grid = tmp_path / "only-attributes.png"
    code, text = run(
        capsys, "sample", "--checkpoint", str(conditioned_run), "--n", "2", "--steps", "2",
        "--attributes", "thickness=1.5", "--out", str(grid),
    )  # fmt: skip
    assert code == 0, text
    assert grid.exists() and not (tmp_path / "only-attributes-skeleton.png").exists()


BAD = [
    (["--attributes", "colour=3"], "unknown attribute 'colour'"),
    (["--attributes", "thickness=wide"], "must be a number"),
    (["--attributes", "thickness"], "must look like"),
    (["--map", "missing.png"], "does not exist"),
    (["--map", "test:0", "--labels", "all"], "not 'all'"),
    (["--cfg", "texture=2"], "guidance names condition 'texture'"),
    (["--cfg", "class=2,class=3"], "twice"),
    (["--prompt", "a thin 7", "--labels", "0"], "trained with a text condition"),
]


@pytest.mark.parametrize("extra,needle", BAD, ids=[b[1] for b in BAD])
def test_bad_condition_input_is_one_line_exit_2_nothing_written(
    conditioned_run, tmp_path, capsys, extra, needle
):
    grid = tmp_path / "never.png"
    argv = ["sample", "--checkpoint", str(conditioned_run), "--n", "2", "--steps", "2"]
    code, text = run(capsys, *argv, *extra, "--out", str(grid))
    assert code == 2 and needle in text, text
    assert len(text.strip().splitlines()) == 1
    assert not grid.exists()


def test_a_map_of_the_wrong_size_or_a_condition_never_trained(conditioned_run, tmp_path, capsys):
    Image.new("L", (SIDE + 4, SIDE)).save(tmp_path / "wide.png")
    argv = ["sample", "--checkpoint", str(conditioned_run), "--n", "2", "--steps", "2"]
    code, text = run(capsys, *argv, "--map", str(tmp_path / "wide.png"), "--out", "x.png")
    assert code == 2 and "the model makes 16×16 images" in text


def test_train_refuses_unknown_conditions_and_flip_with_attributes(tmp_path, capsys):
    base = ["train", "--family", "dit", "--steps", "1", "--out", str(tmp_path / "r")]
    code, text = run(capsys, *base, "--condition", "class,colour")
    assert code == 2 and "unknown condition 'colour'" in text
    code, text = run(capsys, *base, "--condition", "attributes", "--set", "flip=true")
    assert code == 2 and "flip" in text
    code, text = run(capsys, *base, "--condition", "attributes", "--family", "vqvae")
    assert code == 2 and "not conditioned" in text
    assert not (tmp_path / "r").exists()


def test_a_condition_the_model_was_not_trained_with(tmp_path, capsys):
    out = tmp_path / "plain"
    argv = ["train", "--family", "dit", "--resolution", "8", "--steps", "1", "--batch-size", "4"]
    assert main([*argv, "--out", str(out), "--no-sample-grid", *TINY_DIT]) == 0
    capsys.readouterr()
    argv = ["sample", "--checkpoint", str(out), "--n", "2", "--steps", "2", "--out", "x.png"]
    code, text = run(capsys, *argv, "--attributes", "thickness=2")
    assert code == 2 and "not trained with an attribute vector" in text
    code, text = run(capsys, *argv, "--map", "test:0")
    assert code == 2 and "not trained with a map" in text
    code, text = run(capsys, *argv, "--cfg", "skeleton=2")
    assert code == 2 and "guidance names condition 'skeleton'" in text


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A one-step DiT on MNIST captions with a learned text encoder (measures the 60k training
    digits' attributes once for the caption bins: about a minute, cached for the module)."""
    root = tmp_path_factory.mktemp("text")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIGEN_CACHE", str(root / "cache"))
    argv = ["train", "--family", "dit", "--resolution", "8", "--condition", "text"]
    argv += ["--set", "text_encoder=learned", "--set", "text_length=8", "--steps", "1"]
    code = main(
        [*argv, "--batch-size", "4", "--out", str(root / "run"), "--no-sample-grid", *TINY_DIT]
    )
    mp.undo()
    assert code == 0
    return root / "run"


@pytest.mark.slow
def test_prompts_make_a_grid_with_a_labelled_row_each(text_run, tmp_path, capsys):
    (tmp_path / "prompts.txt").write_text(
        "a thick seven slanting to the right\n\nthin 3, upright\n"
    )
    grid = tmp_path / "grid.png"
    long = "a very very very very long caption about a digit"
    code, text = run(
        capsys, "sample", "--checkpoint", str(text_run), "--n", "3", "--steps", "2",
        "--prompt", long, "--prompts-file", str(tmp_path / "prompts.txt"), "--cfg", "2",
        "--out", str(grid),
    )  # fmt: skip
    assert code == 0, text
    assert "longer than 8 tokens: kept" in text  # the cut is named
    image = Image.open(grid)
    assert image.height >= 3 * 8 * 2 and image.width > 3 * 10 * 2  # three rows, a label margin
    rows = [long, "a thick seven slanting to the right", "thin 3, upright"]
    assert row_labels(grid) == rows  # each row's prompt, in order, uncut


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--prompts-file", "BAD"], "not UTF-8"),
        (["--prompts-file", "missing.txt"], "does not exist"),
        (["--prompt", "a 7", "--labels", "all"], "not 'all'"),
        (["--attributes", "thickness=2"], "not trained with an attribute vector"),
    ],
)
def test_bad_prompt_input_is_one_line(text_run, tmp_path, capsys, extra, needle):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe a seven")
    extra = [str(bad) if e == "BAD" else e for e in extra]
    grid = tmp_path / "never.png"
    argv = ["sample", "--checkpoint", str(text_run), "--n", "2", "--steps", "2"]
    code, text = run(capsys, *argv, *extra, "--out", str(grid))
    assert code == 2 and needle in text and len(text.strip().splitlines()) == 1, text
    assert not grid.exists()


def test_training_on_captions_without_wordllama_installed_is_one_line(
    tmp_path, capsys, monkeypatch
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wordllama" else real(name)
    )
    out = tmp_path / "never"
    argv = ["train", "--family", "dit", "--resolution", "8", "--condition", "text", "--steps", "1"]
    code, text = run(capsys, *argv, "--out", str(out), *TINY_DIT)
    assert code == 2 and "pip install wordllama==0.4.0.post1" in text, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "wordllama" in errors[0] and not out.exists()
