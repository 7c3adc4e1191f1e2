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


def _rate(rate: float, n: int) -> dict:
    return {"rate": rate, "rate_interval": [rate - 0.05, rate + 0.05], "n": n}


def _text_scores(n: int, held_out: int, *, digits: bool) -> dict:
    names = ("r_precision", "class_accuracy", "bin_accuracy") if digits else ("r_precision",)
    suffixes = ("", "_held_out") if digits else ("",)

    def judged(rate: float) -> dict:
        scores = {
            name + suffix: _rate(rate, held_out if suffix else n)
            for name in names
            for suffix in suffixes
        }
        return scores | {"cosine": {"mean": rate, "mean_interval": [rate, rate], "n": n}}

    return {
        "kind": "text", "n": n, "n_held_out": held_out if digits else 0,
        "chance_r_precision": 0.01,
        "samples": judged(0.5), "real": judged(0.6), "chance": judged(0.1),
    }  # fmt: skip


def _text_results(digits: bool, held_out: int = 16) -> dict:
    matcher = {"test_r_precision": 0.48, "test_r_precision_interval": [0.45, 0.51]}
    return {
        "adherence": {
            "conditions": ["text"],
            "families": {
                "unet": {"n": 16, "scores": {"text": _text_scores(16, held_out, digits=digits)}}
            },
            "grids": [],
            "text_matcher": matcher | {"test_requests": 1000},
        }
    }


def test_captions_get_r_precision_accuracies_and_held_out_columns_and_the_judges_accuracy():
    header, rows = adherence_table(_text_results(digits=True))
    assert header[2:] == [
        "text R-precision (chance 0.01) [95 %]",
        "text R-precision, held-out [95 %]",
        "text class acc. [95 %]",
        "text class acc., held-out [95 %]",
        "text bin acc. (thickness & slant) [95 %]",
        "text bin acc., held-out [95 %]",
        "text caption cosine [95 %]",
    ]
    assert [r[0] for r in rows] == [
        "U-Net diffusion", "U-Net diffusion: chance (requests rolled by one)", CEILING
    ]  # fmt: skip
    assert rows[0][2] == rows[0][3] == "0.5 [0.45, 0.55]" and rows[2][2] == "0.6 [0.55, 0.65]"
    # fewer held-out test images than requests: @m on the held-out columns
    _, rows = adherence_table(_text_results(digits=True, held_out=9))
    assert rows[0][2] == "0.5 [0.45, 0.55]" and rows[0][3] == "0.5 [0.45, 0.55] @9"
    note = adherence_notes(_text_results(digits=True))[0]
    assert "R-precision on 1000 real test images: 0.48 [0.45, 0.51]" in note


def test_captions_without_digits_have_no_accuracy_columns():
    header, _ = adherence_table(_text_results(digits=False))
    assert header[2:] == ["text R-precision (chance 0.01) [95 %]", "text caption cosine [95 %]"]
