"""`trigen compare --conditions text`: every family trains on captions, the adherence study
requests test captions and scores R-precision, class and bin accuracy overall and on held-out
combinations beside the real-image ceiling, and the report shows them with a grid per family
whose rows are labelled with their prompts (issue 26)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from trigen.cli import main
from trigen.compare.adherence import check_dataset
from trigen.compare.adherence_grids import HELD_OUT_MARK
from trigen.config import FamilyName
from trigen.data.datasets import ImageDataset
from trigen.errors import ConfigError
from trigen.experiment.run import run_compare
from trigen.experiment.settings import compare_settings
from trigen.measure import evaluators
from trigen.report.grids import row_labels

from .stand_ins import BandFeatures

# typical MNIST attributes (area, length, thickness, slant, width, height) and their spread
MEANS = np.array([100.0, 40.0, 2.6, 0.1, 12.0, 18.0])
STDS = np.array([30.0, 10.0, 0.7, 0.25, 4.0, 1.0])
RATES = ("r_precision", "class_accuracy", "bin_accuracy")


def fake_attributes(images, cache_dir, key):
    """Stands in for measuring MNIST's 70,000 digits (a minute): plausible values, fixed per set."""
    rng = np.random.default_rng(len(images))
    return MEANS + STDS * rng.normal(size=(len(images), 6))


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIGEN_CACHE", str(tmp_path / "trigen-cache"))
    monkeypatch.setattr(evaluators, "InceptionFeatures", BandFeatures)
    monkeypatch.setattr("trigen.data.morpho.cached_attributes", fake_attributes)


def _check_scores(text: dict, n: int) -> None:
    assert text["kind"] == "text" and text["n"] == n and text["n_held_out"] == n
    assert text["chance_r_precision"] == 0.01
    for which in ("samples", "real", "chance"):
        for rate in RATES:
            for name in (rate, rate + "_held_out"):
                entry = text[which][name]
                low, high = entry["rate_interval"]
                assert 0 <= low <= entry["rate"] <= high <= 1 and entry["n"] == n
        assert -1 <= text[which]["cosine"]["mean"] <= 1


def test_compare_with_text_reports_caption_adherence(tmp_path, stand_ins, capsys):
    out = tmp_path / "text"
    argv = ["compare", "--preset", "smoke", "--families", "unet", "--dataset", "mnist"]
    argv += ["--images", "32", "--reference-images", "16", "--fid-samples", "8", "--studies", ""]
    argv += ["--claims", "none", "--device", "cpu", "--conditions", "text", "--out", str(out)]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0, capsys.readouterr().out
    study = json.loads((out / "results.json").read_text())["adherence"]
    assert study["conditions"] == ["text"]
    record = study["families"]["unet"]
    assert record["n"] == 16  # the smoke preset's requests per condition
    _check_scores(record["scores"]["text"], 16)
    matcher = study["text_matcher"]
    assert matcher["test_requests"] == 1000 and 0 <= matcher["test_r_precision"] <= 1
    assert [g["file"] for g in study["grids"]] == ["adherence_unet_text.png"]
    assert "* marks a held-out combination" in study["grids"][0]["title"]
    assert (out / "adherence_unet_text.png").stat().st_size > 1000
    rows = row_labels(out / "adherence_unet_text.png")  # a caption per row: one per class first
    assert rows is not None and len(rows) > 10 and len(set(rows[:10])) == 10
    held = [r.removeprefix(HELD_OUT_MARK) for r in rows if r.startswith(HELD_OUT_MARK)]
    assert held and all(h.strip() for h in held)  # held-out combinations asked too, marked
    report = (out / "report.md").read_text()
    assert "## Condition adherence" in report and "real test images (the ceiling)" in report
    assert "text R-precision (chance 0.01) [95 %]" in report and "bin acc., held-out" in report
    assert "The matcher's own R-precision on 1000 real test images" in report


def test_text_needs_a_captioned_dataset_but_not_grey_digits():
    rgb = ImageDataset(
        torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2).long(), 0, [], "x"
    )
    check_dataset(compare_settings("smoke", dataset="openmoji", conditions=("text",)), rgb)
    with pytest.raises(ConfigError, match="idx has no captions; text needs one of: mnist"):
        check_dataset(compare_settings("smoke", dataset="idx", conditions=("text",)), rgb)
    with pytest.raises(ConfigError, match="conditions skeleton are measured on grayscale"):
        settings = compare_settings("smoke", dataset="openmoji", conditions=("text", "skeleton"))
        check_dataset(settings, rgb)


def test_a_dataset_without_captions_is_one_line_before_anything_is_written(tmp_path, capsys):
    argv = ["compare", "--preset", "smoke", "--dataset", "fashion_mnist", "--conditions", "text"]
    assert main([*argv, "--out", str(tmp_path / "cmp")]) == 2
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert "has no captions" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cmp").exists()


@pytest.mark.slow
def test_real_captions_at_16_px_have_a_ceiling_well_above_chance(tmp_path, monkeypatch):
    """With the real attributes (measured once per machine into $TRIGEN_CACHE, about a minute)."""
    monkeypatch.setattr(evaluators, "InceptionFeatures", BandFeatures)
    smoke = compare_settings("smoke")
    s = compare_settings(
        "smoke", families=(FamilyName.UNET,), resolution=16, images_per_family=64,
        reference_images=16, fid_samples=8, studies=(), conditions=("text",),
        adherence_samples=64, text_match_images=25_000, domain_images=60_000,
        claims=dataclasses.replace(smoke.claims, run=()),
    )  # fmt: skip
    out, cache = tmp_path / "out", tmp_path / "cache"
    results = run_compare(s, out, cache_dir=cache, device=torch.device("cpu"))
    study = results["adherence"]
    _check_scores(study["families"]["unet"]["scores"]["text"], 64)
    real = study["families"]["unet"]["scores"]["text"]["real"]
    assert study["text_matcher"]["test_r_precision"] > 0.2  # 0.48 measured at 60 s
    assert real["r_precision"]["rate_interval"][0] > 0.05  # chance 0.01
    assert real["class_accuracy"]["rate"] > 0.8 and real["bin_accuracy"]["rate"] > 0.6
