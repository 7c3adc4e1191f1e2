"""The volatile-field patterns of results.json: JSON Pointers with globs, ``**`` and filters."""

import pytest

from trigen.report.volatile import VOLATILE_FIELDS, timed_claim, without_volatile

RESULTS = {
    "meta": {"dataset": "mnist", "date": "2026-12-07", "host": {"cores": 2}, "threads": 2},
    "families": {
        "unet": {
            "train": {"images_seen": 64, "seconds": 3.1, "images_per_second": 20.6},
            "sampling": {"nfe": 3, "latency_s_per_image": 0.1, "peak_memory_mb": 1.0},
            "quality": {"fid": 376.3},
            "across_seeds": {"metrics": {"train.seconds": {"mean": 3.1}, "quality.fid": {}}},
        }
    },
    "studies": {
        "resolution": [{"family": "unet", "train_step": {"median_s": 0.1}, "train_step_s": 0.1}]
    },
    "claims": [
        {
            "id": "C6",
            "verdict": "supported",
            "details": {
                "points": [{"seconds": 1.0, "x": 8}],
                "fits": [{"name": "dit training-step time ∝ resolution^k"}, {"name": "memory"}],
            },
        },
        {"id": "C7", "verdict": "refuted"},
    ],
}


def test_timings_and_the_host_go_and_everything_else_stays():
    kept = without_volatile(RESULTS, [*VOLATILE_FIELDS, timed_claim("C7")])
    assert kept["meta"] == {"dataset": "mnist"}
    unet = kept["families"]["unet"]
    assert unet["train"] == {"images_seen": 64}
    assert unet["sampling"] == {"nfe": 3, "peak_memory_mb": 1.0}
    assert unet["quality"] == {"fid": 376.3}
    assert unet["across_seeds"]["metrics"] == {"quality.fid": {}}  # a glob over a dotted key
    assert kept["studies"]["resolution"] == [{"family": "unet"}]
    c6 = {
        "id": "C6",
        "verdict": "supported",
        "details": {"points": [{"x": 8}], "fits": [{"name": "memory"}]},  # a fit of times goes
    }
    assert kept["claims"] == [c6]  # C7, decided on timings, goes whole
    assert RESULTS["meta"]["date"] == "2026-12-07"  # the input is left as it was


def test_pattern_forms():
    doc = {"a": {"b": [{"k": 1, "v": 2}, {"k": 3, "v": 4}], "c~/d": 5}, "v": 6}
    inner = {"b": [{"k": 1}, {"k": 3}], "c~/d": 5}
    assert without_volatile(doc, ["/a/b/*/v"]) == {"a": inner, "v": 6}
    assert without_volatile(doc, ["/**/v"]) == {"a": inner}  # any depth, the top included
    assert without_volatile(doc, ["/a/b/[k=3]"])["a"]["b"] == [{"k": 1, "v": 2}]
    assert without_volatile(doc, ["/a/b/[k=[13]]"])["a"]["b"] == []  # the value is a glob
    assert without_volatile(doc, ["/a/c~0~1d"])["a"] == {"b": doc["a"]["b"]}  # RFC 6901 escapes
    assert without_volatile(doc, ["/a/b/1"])["a"]["b"] == [{"k": 1, "v": 2}]
    assert without_volatile(doc, []) == doc
    with pytest.raises(ValueError, match="JSON Pointer"):
        without_volatile(doc, ["a/b"])
