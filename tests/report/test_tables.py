"""The report's tables read as a newcomer reads them: columns named for people, no column blank
in every row, a skipped point saying why in its row, KID with its spread."""

import copy

import pytest

from trigen.report.table import (
    BLANK,
    FLAG,
    NOTE,
    STUDY_TABLES,
    metric_rows,
    study_tables,
)

from .test_render import RESULTS

TIMING = {"median_s": 0.1, "repeats": 5, "spread": 0.05, "flagged": False}


def _results() -> dict:
    """RESULTS with a step-sweep resolution study that has a skipped and a flagged point, KID
    with its standard deviation, and a receptive-field study."""
    results = copy.deepcopy(RESULTS)
    for i, record in enumerate(results["families"].values()):
        record["quality"].update(kid_x1000=5.0 + i, kid_std_x1000=0.5)
    measured = {
        "params": 1e6,
        "train_peak_mb": 10.0,
        "sample_peak_mb": 1.0,
        "train_step": TIMING,
        "sample_step": TIMING,
        "train_step_s": 0.1,
        "sample_step_s": 0.01,
        "skipped": None,
    }
    unmeasured = dict.fromkeys(measured)
    results["studies"]["resolution"] = [
        {"family": "unet", "resolution": 16, "tokens": 256, **measured},
        {
            "family": "dit",
            "resolution": 16,
            "tokens": 16,
            **measured,
            "train_step": {**TIMING, "flagged": True},
        },
        {
            "family": "ar",
            "resolution": 128,
            "tokens": 16384,
            **unmeasured,
            "skipped": "16384 tokens > the AR cap of 4096",
        },
    ]
    results["studies"]["receptive_field"] = [
        {"family": "unet", "radius_50_px": 2.0, "radius_90_px": 5.0, "grid": "16×16"}
    ]
    return results


def _tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    return [("Metrics", *metric_rows(results)), *study_tables(results)]


def test_every_column_is_named_for_people():
    """No raw field name (``train_peak_mb``) as a header; every header names a unit or is a
    count, a label or a dimensionless score."""
    unitless = ("family", "sampler", "steps", "variant", "parameters", "training images seen")
    unitless += ("FID", "domain FID", "guidance scale", NOTE)
    for title, header, _ in _tables(_results()):
        for name in header:
            assert "_" not in name, (title, name)
            assert "(" in name or "×10³" in name or name.startswith(unitless), (title, name)


def test_no_column_is_blank_in_every_row():
    for title, header, rows in _tables(_results()):
        assert rows, title
        for i, name in enumerate(header):
            assert any(row[i] not in (BLANK, "") for row in rows), (title, name)


def test_the_resolution_table_says_why_a_point_is_skipped_and_what_flags_mean():
    tables = {title: (header, rows) for title, header, rows in study_tables(_results())}
    header, rows = tables["Scaling with resolution"]
    assert header[-1] == NOTE
    by_family = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    skipped = by_family["Autoregressive transformer"]
    assert skipped[NOTE] == "skipped: 16384 tokens > the AR cap of 4096"
    flagged = by_family["DiT (diffusion transformer)"]
    assert flagged["training step (s, median)"].endswith(FLAG)
    assert FLAG in flagged[NOTE] and "training step" in flagged[NOTE]
    assert by_family["U-Net diffusion"][NOTE] == BLANK
    assert not any("steps" in name for name in header)  # blank in every row: left out


def test_metrics_print_kid_with_its_spread_and_intervals_say_so_in_the_header():
    results = _results()
    results["families"]["unet"]["quality"].update(fid_low=28.0, fid_high=33.0)
    header, rows = metric_rows(results)
    columns = dict(zip(header, zip(*rows, strict=True), strict=True))
    assert columns["KID ×10³ ± std"] == ("5 ± 0.5", "6 ± 0.5", "7 ± 0.5")
    assert columns["FID at its sample count (reference images held fixed) [95 %]"][0] == (
        "30 [28, 33]"
    )
    assert "domain FID" not in columns  # no family measured it


@pytest.mark.parametrize("spec", STUDY_TABLES, ids=lambda s: s.key)
def test_a_study_of_one_row_keeps_its_label_column(spec):
    header, rows = dict((t, (h, r)) for t, h, r in study_tables({"studies": {spec.key: [{}]}}))[
        spec.title
    ]
    assert header == [spec.columns[0][1]] and rows == [[BLANK]]
