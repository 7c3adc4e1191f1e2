"""OpenMoji text: the CSV parser, the npm fetch (with a fake npm) and captioned glyphs."""

import csv
import hashlib
import io
import os
import tarfile
import warnings

import numpy as np
import pytest
from PIL import Image

from trigen.data import openmoji
from trigen.data import openmoji_text as ot
from trigen.data.captioned import load_captioned
from trigen.errors import ConfigError, DataError

COLUMNS = ["emoji", "hexcode", "group", "subgroups", "annotation", "tags", "openmoji_tags"]
COLUMNS += ["skintone", "skintone_base_hexcode"]
ROWS = [
    [
        "😃",
        "1F603",
        "smileys-emotion",
        "face-smiling",
        "grinning face with big eyes",
        "happy, smile",
    ],
    ["👋", "1F44B", "people-body", "hand-fingers-open", "waving hand", "hand, wave"],
    ["👋🏻", "1F44B-1F3FB", "people-body", "hand-fingers-open", "waving hand: light skin tone", ""],
    ["", "E001", "extras-openmoji", "animals-nature", "donkey", "", "", "", ""],
    ["", "E002", "extras-openmoji", "plant-flower", "poppy", "", "poppy,  remembrance"],
]
SIDE = 16  # small: the whole glyph set renders in about a second


def csv_bytes(rows, columns=COLUMNS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        full = row + [""] * (len(columns) - len(row))
        if row[1] == "1F44B-1F3FB":
            full[-2:] = ["1", "1F44B"]  # a skin-tone variant and its base
        writer.writerow(full)
    return out.getvalue().encode("utf-8")


def tarball(path, members: dict[str, bytes]) -> str:
    """Write a .tgz of ``members`` at ``path``; its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """An ``npm`` on PATH whose ``pack`` copies the tarball at tmp_path/served.tgz into its cwd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    served = tmp_path / "served.tgz"
    npm.write_text(f'#!/bin/sh\n[ "$1" = pack ] || exit 2\ncp "{served}" ./openmoji-17.0.0.tgz\n')
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return served


def test_caption_is_annotation_then_tags_with_fallbacks(tmp_path):
    path = tmp_path / "openmoji.csv"
    path.write_bytes(csv_bytes(ROWS))
    texts = ot.read_openmoji_csv(path)
    assert list(texts) == [(0x1F603,), (0x1F44B,), (0x1F44B, 0x1F3FB), (0xE001,), (0xE002,)]
    face = texts[(0x1F603,)]
    assert face.caption == "grinning face with big eyes; happy, smile"
    assert (face.group, face.subgroup, face.hexcode) == ("smileys-emotion", "face-smiling", "1F603")
    assert texts[(0x1F44B, 0x1F3FB)].caption == "waving hand: light skin tone; hand, wave"  # base's
    assert texts[(0xE001,)].caption == "donkey"
    assert texts[(0xE002,)].caption == "poppy; poppy, remembrance"  # openmoji_tags


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (csv_bytes(ROWS, COLUMNS[:4]), "no column annotation, tags"),
        (csv_bytes([["x", "1F6ZZ", "g", "s", "a", "t"]]), "bad hexcode"),
        (csv_bytes(ROWS[:1] * 2), "twice"),
        (b"\xff\xfe not utf-8", "UTF-8"),
    ],
)
def test_malformed_csv_is_one_line_error(tmp_path, content, message):
    path = tmp_path / "openmoji.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        ot.read_openmoji_csv(path)
    assert "\n" not in str(err.value)


def test_fetch_checks_the_tarball_and_writes_only_the_csv(tmp_path, fake_npm):
    data = csv_bytes(ROWS)
    sha = tarball(fake_npm, {"package/README.md": b"hi", ot.CSV_MEMBER: data})
    cache = tmp_path / "cache"
    path = ot.fetch_openmoji_csv(cache, sha256=sha)
    assert path == cache / ot.CSV_FILE and path.read_bytes() == data
    assert os.listdir(cache) == [ot.CSV_FILE]  # no tarball, no temporary file left behind


def test_fetch_with_a_wrong_checksum_writes_nothing(tmp_path, fake_npm):
    tarball(fake_npm, {ot.CSV_MEMBER: csv_bytes(ROWS)})
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="sha256") as err:
        ot.fetch_openmoji_csv(cache, sha256="0" * 64)
    assert "\n" not in str(err.value) and not cache.exists()


@pytest.mark.parametrize("bad", ["../evil.csv", "package/../../evil.csv", "/tmp/evil.csv"])
def test_a_member_outside_the_tarball_is_refused(tmp_path, fake_npm, bad):
    sha = tarball(fake_npm, {ot.CSV_MEMBER: csv_bytes(ROWS), bad: b"x"})
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="outside"):
        ot.fetch_openmoji_csv(cache, sha256=sha)
    assert not cache.exists() and not (tmp_path / "evil.csv").exists()


def test_a_tarball_without_the_csv_or_with_another_file_is_refused(tmp_path, fake_npm):
    sha = tarball(fake_npm, {"package/data/other.csv": b"x"})
    with pytest.raises(DataError, match="no single regular file"):
        ot.fetch_openmoji_csv(tmp_path / "cache", sha256=sha)
    sha = tarball(fake_npm, {ot.CSV_MEMBER: b"emoji,hexcode\n"})
    with pytest.raises(DataError, match=r"not openmoji\.csv"):
        ot.fetch_openmoji_csv(tmp_path / "cache", sha256=sha)
    assert not (tmp_path / "cache").exists()


def test_missing_or_failing_npm_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm there
    with pytest.raises(ConfigError, match=r"install Node\.js with npm") as err:
        ot.fetch_openmoji_csv(tmp_path / "cache")
    assert "\n" not in str(err.value)
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\necho 'npm error code E404' >&2\nexit 1\n")
    npm.chmod(0o755)
    with pytest.raises(DataError, match="E404") as err:
        ot.fetch_openmoji_csv(tmp_path / "cache")
    assert "\n" not in str(err.value) and not (tmp_path / "cache").exists()


def test_loading_needs_the_fetched_unaltered_csv(tmp_path):
    with pytest.raises(DataError, match=r"python -m trigen\.data\.openmoji_text"):
        ot.openmoji_csv_path(tmp_path)
    (tmp_path / ot.CSV_FILE).write_bytes(csv_bytes(ROWS))
    with pytest.raises(DataError, match="sha256 differs"):
        ot.openmoji_csv_path(tmp_path)
    with pytest.raises(ConfigError, match="cache_dir"):
        load_captioned("openmoji", "test")


def test_captioned_openmoji_aligns_rows_with_glyphs_and_keeps_the_split(tmp_path, monkeypatch):
    glyphs = ot.distinct_glyph_codepoints(SIDE, tmp_path / "render")
    described = glyphs[:30]  # test glyphs 0, 10, 20; the rest train
    rows = [
        ["", "-".join(f"{c:X}" for c in g), "g", "s", f"glyph {i}", "t"]
        for i, g in enumerate(described)
    ]
    path = tmp_path / ot.CSV_FILE
    path.write_bytes(csv_bytes(rows))
    monkeypatch.setattr(ot, "OPENMOJI_CSV_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = {
            split: load_captioned(
                "openmoji", split, cache_dir=tmp_path, root=tmp_path / "render", resolution=SIDE
            )
            for split in ("train", "test")
        }
    dropped = [str(w.message) for w in caught if "no CSV row; dropped" in str(w.message)]
    assert len(dropped) == 2  # one per split: the glyphs the small CSV does not describe
    train, test = splits["train"], splits["test"]
    assert [r.annotation for r in test.emoji] == ["glyph 0", "glyph 10", "glyph 20"]
    assert len(train) == len(train.dataset) == 27 and len(test.dataset) == 3
    assert test.captions[0] == "glyph 0; t"
    font = openmoji.openmoji_package_dir() / openmoji.FONT_FILE
    for data in (train, test):
        drawn = openmoji.render_glyphs(font, [r.codepoints for r in data.emoji], SIDE)
        assert np.array_equal(data.dataset.images.numpy(), drawn)  # each image is its row's glyph


@pytest.mark.slow
def test_train_and_sample_openmoji_from_its_own_text(tmp_path, monkeypatch, capsys):
    """End to end through the CLI on a stand-in CSV: a DiT trains on glyphs with their captions
    and samples a grid whose rows are the prompts."""
    from trigen.cli import main
    from trigen.report.grids import row_labels

    render = tmp_path / "render"
    glyphs = ot.distinct_glyph_codepoints(SIDE, render)[:30]
    rows = [
        ["", "-".join(f"{c:X}" for c in g), "g", "s", f"glyph {i}", "happy, smile"]
        for i, g in enumerate(glyphs)
    ]
    cache = tmp_path / "cache"
    (cache / "conditions").mkdir(parents=True)
    path = cache / "conditions" / ot.CSV_FILE
    path.write_bytes(csv_bytes(rows))
    monkeypatch.setattr(ot, "OPENMOJI_CSV_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setenv("TRIGEN_CACHE", str(cache))
    run = tmp_path / "run"
    argv = ["train", "--family", "dit", "--dataset", "openmoji", "--data-root", str(render)]
    argv += ["--resolution", str(SIDE), "--condition", "text", "--set", "text_encoder=learned"]
    argv += ["--set", "model_overrides.depth=1", "--set", "model_overrides.hidden=32"]
    argv += ["--set", "model_overrides.heads=2", "--steps", "1", "--batch-size", "4"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the glyphs the small CSV does not describe are dropped
        assert main([*argv, "--out", str(run), "--no-sample-grid"]) == 0, capsys.readouterr()
    grid = tmp_path / "grid.png"
    prompts = ["glyph 3; happy, smile", "glyph 12"]
    argv = ["sample", "--checkpoint", str(run), "--n", "2", "--steps", "2", "--out", str(grid)]
    code = main([*argv, "--prompt", prompts[0], "--prompt", prompts[1], "--cfg", "2"])
    assert code == 0, capsys.readouterr()
    assert row_labels(grid) == prompts
    image = np.asarray(Image.open(grid).convert("RGB"))
    assert image.shape[0] >= 2 * SIDE * 2 and image.std() > 0  # two rows of colour samples
