"""`trigen compare --seeds N`: every family trained on N seeds derived from --seed, each seed's
headline numbers kept, their mean with a t interval over seeds re-derivable from results.json,
and the report's table of seeds (issue 27)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from trigen.cli import main
from trigen.compare import seeds
from trigen.errors import ConfigError
from trigen.experiment.settings import compare_settings, with_seeds
from trigen.report.seeds import seed_rows

from .stand_ins import idx_comparison_data, write_idx_split


def _record(fid: float, accuracy: float, bpd: float) -> dict:
    """A family's record as ``measure_family`` writes it (the parts the seeds read)."""
    return {
        "preset": "unet-tiny",
        "params": 1000,
        "train": {"images_seen": 128, "images_per_second": 50.0, "final_loss": 0.1},
        "quality": {
            "fid": fid,
            "fid_low": fid - 1,
            "fid_high": fid + 1,
            "kid_x1000": fid / 10,
            "kid_std_x1000": 0.5,
            "cond_accuracy": accuracy,
            "cond_accuracy_low": accuracy - 0.05,
            "cond_accuracy_high": accuracy + 0.05,
            "domain_fid": None,  # a metric that does not apply: no mean, no interval
        },
        "nll": {"bits_per_dim": bpd, "kind": "exact"},
        "sampling": {"latency_s_per_image": 0.01},
        "grid": f"unet@{fid}_samples.png",
    }


def test_the_mean_and_t_interval_of_known_per_seed_values():
    fids, accs = [10.0, 12.0, 14.0], [0.5, 0.6, 0.7]
    records = [_record(f, a, 1.0 + i) for i, (f, a) in enumerate(zip(fids, accs, strict=True))]
    r = seeds.family_record(records, (7, 8, 9))
    # mean ± t(0.975, n − 1) · sd / √n, by hand: 12 ± 4.303 · 2 / √3
    half = sps.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert r["quality"]["fid"] == pytest.approx(12.0)
    assert r["quality"]["fid_low"] == pytest.approx(12.0 - half)
    assert r["quality"]["fid_high"] == pytest.approx(12.0 + half)
    assert half == pytest.approx(4.968, abs=1e-3)
    fid = r["across_seeds"]["metrics"]["quality.fid"]
    assert fid["values"] == fids and fid["mean"] == pytest.approx(12.0)
    assert (fid["low"], fid["high"]) == (r["quality"]["fid_low"], r["quality"]["fid_high"])
    assert r["nll"]["bits_per_dim"] == pytest.approx(2.0)
    assert r["quality"]["cond_accuracy"] == pytest.approx(0.6)
    assert "quality.domain_fid" not in r["across_seeds"]["metrics"]
    assert r["quality"]["domain_fid"] is None
    assert "kid_std_x1000" not in r["quality"]  # a within-run spread beside a mean over seeds
    # each seed's record, as measured, with its seed
    assert [s["seed"] for s in r["seeds"]] == [7, 8, 9]
    assert [s["quality"]["fid"] for s in r["seeds"]] == fids
    assert r["seeds"][1]["quality"]["fid_low"] == 11.0  # its own interval over samples
    assert r["across_seeds"]["seeds"] == [7, 8, 9] and "t 95 %" in r["across_seeds"]["method"]
    assert r["grid"] == records[0]["grid"] and r["preset"] == "unet-tiny"
    # re-derivable from the file alone
    back = json.loads(json.dumps(r))
    values = back["across_seeds"]["metrics"]["quality.fid"]["values"]
    n = len(values)
    half_again = sps.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
    assert back["quality"]["fid_high"] - back["quality"]["fid"] == pytest.approx(half_again)


def test_one_seed_has_no_interval_over_seeds_and_is_never_exact():
    record = _record(20.0, 0.4, 1.5)
    r = seeds.family_record([record], (0,))
    assert r["quality"] == record["quality"]  # the run's own intervals over its samples
    fid = r["across_seeds"]["metrics"]["quality.fid"]
    assert fid["values"] == [20.0] and fid["low"] is None and fid["high"] is None
    assert "no interval" in r["across_seeds"]["method"]
    assert "exact" not in json.dumps(r["across_seeds"])


def test_seeds_are_derived_from_the_base_seed():
    assert seeds.training_seeds(5, 3) == (5, 6, 7)
    s = with_seeds(compare_settings("demo"), 2, 10)
    assert (s.seed, s.seeds) == (10, 2)
    assert s.claims.seeds == s.claims.injection_seeds == (10, 11)
    one = with_seeds(compare_settings("claims"), 1, 4)
    assert one.seeds == 1 and one.claims.seeds == (4, 5, 6)  # a claim over seeds keeps ≥ 2
    assert with_seeds(compare_settings("smoke"), None, None) == compare_settings("smoke")
    assert "10, 11" in seeds.describe(s) and "mean over seeds" in seeds.describe(s)
    assert "no interval over seeds" in seeds.describe(compare_settings("demo"))
    assert compare_settings("demo").seeds == 1 and compare_settings("claims").seeds >= 2
    assert seeds.run_name("unet", 11, s) == "unet@11"
    assert seeds.run_name("unet", 0, compare_settings("demo")) == "unet"


def test_zero_seeds_and_reuse_over_seeds_are_refused():
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        compare_settings("demo", seeds=0)
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        with_seeds(compare_settings("demo"), 0, None)
    with pytest.raises(ConfigError, match="--reuse"):
        seeds.check_reuse(compare_settings("claims"), {"unet": "runs/unet"})
    seeds.check_reuse(compare_settings("demo"), {"unet": "runs/unet"})  # one seed: fine


def test_seeds_0_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["compare", "--preset", "smoke", "--seeds", "0", "--out", str(tmp_path / "c")])
    captured = capsys.readouterr()
    text = (captured.out + captured.err).strip()
    assert code == 2 and "--seeds must be at least 1" in text
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    assert not (tmp_path / "c").exists()


def test_the_report_table_lists_each_seed_beside_the_mean():
    records = [_record(10.0, 0.5, 1.0), _record(14.0, 0.7, 1.2)]
    results = {"families": {"unet": seeds.family_record(records, (0, 1))}}
    header, rows = seed_rows(results)
    assert header[2:4] == ["seed 0", "seed 1"] and "mean" in header[-1]
    fid = next(r for r in rows if r[1] == "FID")
    assert fid[2:4] == ["10", "14"] and fid[4].startswith("12 [")
    one = {"families": {"unet": seeds.family_record(records[:1], (0,))}}
    assert seed_rows(one) is None and seed_rows({"families": {"unet": records[0]}}) is None


def _write_digits(root, split: str, n: int, seed: int) -> None:
    """Tiny IDX digits: a bright block whose place depends on the class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, 16, 16)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, c : c + 6, 4:10] = 255
    write_idx_split(root, split, images, labels)


@pytest.mark.slow
def test_a_two_seed_compare_keeps_per_seed_values_and_their_aggregate(tmp_path, monkeypatch):
    """Smoke-sized: the U-Net and the pixel transformer at 8 px, two seeds each, one cheap claim
    on the trained families (C9) decided per seed and pooled."""
    data = idx_comparison_data(tmp_path, monkeypatch, _write_digits)
    out = tmp_path / "cmp"
    argv = ["compare", "--preset", "smoke", "--families", "unet,ar", "--dataset", "idx"]
    argv += ["--data-root", str(data), "--images", "32", "--reference-images", "16"]
    argv += ["--fid-samples", "8", "--studies", "", "--claims", "C9", "--device", "cpu"]
    argv += ["--seeds", "2", "--seed", "3", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert "2 training seeds per family: 3, 4" in results["meta"]["seeds"]
    for name, record in results["families"].items():
        per_seed = record["seeds"]
        assert [s["seed"] for s in per_seed] == [3, 4], name
        for s in per_seed:  # each seed trained in its own directory, its own grid
            assert (out / f"{name}@{s['seed']}").is_dir()
            assert (out / s["grid"]).is_file() and s["grid"].startswith(f"{name}@{s['seed']}")
        fid = record["across_seeds"]["metrics"]["quality.fid"]
        assert fid["values"] == [s["quality"]["fid"] for s in per_seed]
        assert record["quality"]["fid"] == pytest.approx(np.mean(fid["values"]))
        assert record["quality"]["fid_low"] <= record["quality"]["fid"]
        assert record["quality"]["fid"] <= record["quality"]["fid_high"]
        bpd = [s["nll"]["bits_per_dim"] for s in per_seed]
        assert record["nll"]["bits_per_dim"] == pytest.approx(np.mean(bpd))
    # the two seeds trained differently
    unet = results["families"]["unet"]["seeds"]
    assert unet[0]["train"]["final_loss"] != unet[1]["train"]["final_loss"]
    (c9,) = [c for c in results["claims"] if c["id"] == "C9"]
    assert c9["n_seeds"] == 2 and c9["details"]["evidence"]["seeds"] == [3, 4]
    assert [v["seed"] for v in c9["details"]["per_seed_verdicts"]] == [3, 4]
    assert c9["details"]["pooled_verdict"]["verdict"] in {"supported", "refuted", "inconclusive"}
    assert main(["recheck", str(out)]) == 0  # every verdict re-derived from the file
    report = (out / "report.md").read_text()
    assert "## Training seeds" in report and "| seed 3 | seed 4 |" in report
    assert "Per training seed:** seed 3:" in report
