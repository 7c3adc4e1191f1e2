"""`trigen compare --conditions`: every family trained with named conditions, an adherence study
per family in results.json and the report, and nothing of it without the option (issue 25)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from trigen.build import DataSpec, build_family
from trigen.cli import main
from trigen.compare.adherence import check_dataset, requests_per_condition
from trigen.compare.adherence_grids import stroke
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.errors import ConfigError
from trigen.eval.morpho import measure_attributes
from trigen.experiment.settings import compare_settings

from .stand_ins import idx_comparison_data, write_idx_split

SIDE = 8  # the smoke preset's resolution


def _write_strokes(root, split: str, n: int, seed: int) -> None:
    """Digit-like IDX files: one stroke of random thickness and slant per image, ten classes."""
    rng = np.random.default_rng(seed)
    widths, slants = rng.uniform(1.5, 3.5, n), rng.uniform(-0.5, 0.5, n)
    images = np.stack(
        [stroke(2 * SIDE, 2 * SIDE, w, s)[..., 0] for w, s in zip(widths, slants, strict=True)]
    )
    write_idx_split(root, split, images, np.arange(n) % 10)


@pytest.fixture
def strokes(tmp_path, monkeypatch):
    """A tiny digit-like dataset, its conditions cached under tmp_path, a stand-in Inception."""
    return idx_comparison_data(tmp_path, monkeypatch, _write_strokes)


def _compare(tmp_path, data, out: str, *extra: str) -> tuple[int, dict | None]:
    argv = ["compare", "--preset", "smoke", "--families", "unet", "--dataset", "idx"]
    argv += ["--data-root", str(data), "--images", "32", "--reference-images", "16"]
    argv += ["--fid-samples", "8", "--studies", "", "--claims", "none", "--device", "cpu"]
    argv += ["--out", str(tmp_path / out), "--cache-dir", str(tmp_path / "cache"), *extra]
    code = main(argv)
    results = tmp_path / out / "results.json"
    return code, json.loads(results.read_text()) if results.exists() else None


def test_the_conditions_option_reaches_the_settings(monkeypatch):
    seen = []

    def fake_run(settings, out, **_):
        seen.append(settings)
        return {"families": {}}

    monkeypatch.setattr("trigen.experiment.run.run_compare", fake_run)
    for option, names in ((["--conditions", "attributes,map"], ("attributes", "skeleton")),
                          (["--conditions", "none"], ()), ([], ())):  # fmt: skip
        assert main(["compare", "--preset", "smoke", "--out", "unused", *option]) == 0
        assert seen[-1].conditions == names
    assert compare_settings("demo").conditions == ()  # no conditions unless asked


def test_a_bad_condition_is_one_line_before_anything_is_written(tmp_path, capsys):
    for option, says in (
        (["--conditions", "colour"], "unknown condition 'colour'"),
        (["--conditions", "skeleton", "--families", "unet,vqvae"], "vqvae is not conditioned"),
    ):
        assert main(["compare", "--out", str(tmp_path / "cmp"), *option]) == 2
        captured = capsys.readouterr()
        err = captured.out + captured.err
        assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not (tmp_path / "cmp").exists()
    rgb = ImageDataset(
        torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2).long(), 0, [], "x"
    )
    with pytest.raises(ConfigError, match="grayscale digits"):
        check_dataset(compare_settings("smoke", conditions=("attributes",)), rgb)


def test_families_that_draw_a_token_a_step_take_fewer_requests():
    s = compare_settings("smoke")
    spec = DataSpec((1, 8, 8), 10)

    def loaded(f: FamilyName) -> SimpleNamespace:
        family = build_family(TrainConfig(family=f, resolution=8), spec)
        return SimpleNamespace(family=family, data=spec)

    pixels = (
        FamilyName.UNET,
        FamilyName.DIT,
        FamilyName.AR,
        FamilyName.PIXELCNN,
        FamilyName.MASKGIT,
    )
    n = {f: requests_per_condition(f, loaded(f), s) for f in pixels}
    assert n[FamilyName.UNET] == n[FamilyName.MASKGIT] == s.adherence_samples  # 3 steps each
    assert n[FamilyName.AR] == n[FamilyName.PIXELCNN] == s.adherence_samples_slow  # 64 each


def test_the_reference_stroke_measures_as_it_was_requested():
    for thickness in (1.5, 2.5, 3.5):
        for slant in (-0.4, 0.0, 0.4):
            image = torch.from_numpy(stroke(28, 28, thickness, slant)).permute(2, 0, 1)[None]
            _, _, measured_thickness, measured_slant, _, _ = measure_attributes(image)[0]
            assert abs(measured_thickness - thickness) < 0.1
            assert abs(measured_slant - slant) < 0.03


def test_compare_with_conditions_reports_adherence_and_without_them_does_not(
    tmp_path, strokes, capsys
):
    code, results = _compare(tmp_path, strokes, "cond", "--conditions", "attributes,map")
    assert code == 0, capsys.readouterr().out
    study = results["adherence"]
    assert study["conditions"] == ["attributes", "skeleton"]
    record = study["families"]["unet"]
    assert record["n"] == 16  # the smoke preset's requests per condition
    thickness = record["scores"]["attributes"]["samples"]["thickness"]
    skeleton = record["scores"]["skeleton"]
    assert skeleton["n"] == 16 and len(skeleton["samples"]["f1_interval"]) == 2
    assert 0 <= skeleton["real"]["f1"] <= 1 and "chance" in skeleton
    if thickness["n"] >= 2:  # untrained samples may be too faint to measure
        assert thickness["mae_interval"][0] <= thickness["mae"] <= thickness["mae_interval"][1]
    files = [g["file"] for g in study["grids"]]
    assert files == ["adherence_unet_attributes.png", "adherence_skeleton.png"]
    assert all((tmp_path / "cond" / f).stat().st_size > 100 for f in files)
    report = (tmp_path / "cond" / "report.md").read_text()
    assert "## Condition adherence" in report and "real test images (the ceiling)" in report
    assert "skeleton F1 @1 px [95 %]" in report and "thickness MAE (px; data std" in report
    page = (tmp_path / "cond" / "report" / "index.html").read_text()
    assert page.count('class="adherence"') == 1 and "adherence_skeleton.png" not in page  # inlined

    code, plain = _compare(tmp_path, strokes, "plain")
    assert code == 0, capsys.readouterr().out
    assert "adherence" not in plain and set(plain) == set(results) - {"adherence"}
    assert plain["families"]["unet"].keys() == results["families"]["unet"].keys()
    assert "Condition adherence" not in (tmp_path / "plain" / "report.md").read_text()
    assert "Condition adherence" not in (tmp_path / "plain" / "report" / "index.html").read_text()
