"""The report's adherence table, read from results.json alone (trigen.report.adherence)."""

from trigen.report.adherence import CEILING, adherence_notes, adherence_table


def _map_scores(f1: float, n: int, measured: int) -> dict:
    scored = {"f1": f1, "f1_interval": [f1 - 0.1, f1 + 0.1], "n": measured}
    return {"kind": "map", "n": n, "samples": scored, "real": scored, "chance": scored}


RESULTS = {
    "adherence": {
        "conditions": ["skeleton"],
        "families": {
            "unet": {"n": 16, "scores": {"skeleton": _map_scores(0.8, 16, 16)}},
            "ar": {"n": 8, "scores": {"skeleton": _map_scores(0.5, 8, 6)}},
            "maskgit": {"skipped": "the run was trained without skeleton"},
        },
        "grids": [],
    }
}


def test_a_row_per_family_and_chance_then_the_ceiling_at_each_request_count():
    header, rows = adherence_table(RESULTS)
    assert header == ["family", "requests per condition (n)", "skeleton F1 @1 px [95 %]"]
    assert [r[0] for r in rows] == [
        "U-Net diffusion",
        "U-Net diffusion: chance (requests rolled by one)",
        "Autoregressive transformer",
        "Autoregressive transformer: chance (requests rolled by one)",
        CEILING,
        CEILING,
    ]
    assert [r[1] for r in rows[-2:]] == ["8", "16"]
    assert rows[0][2] == "0.8 [0.7, 0.9]"
    assert rows[2][2] == "0.5 [0.4, 0.6] @6"  # two of the eight samples could not be measured
    assert adherence_notes(RESULTS) == [
        "MaskGIT (masked parallel decoding): the run was trained without skeleton"
    ]


def test_no_table_without_an_adherence_study():
    assert adherence_table({"families": {}}) is None and adherence_notes({}) == []
