"""`trigen compare` end to end on the smoke preset: every family trained, measured and reported."""

import json

import pytest

from trigen.cli import main
from trigen.config import FamilyName
from trigen.errors import ConfigError


@pytest.mark.slow
def test_compare_smoke_writes_a_complete_report(tmp_path, capsys):
    out, cache = tmp_path / "cmp", tmp_path / "cache"
    code = main(
        [
            "compare",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--device",
            "cpu",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    results = json.loads((out / "results.json").read_text())
    assert list(results["families"]) == ["unet", "dit", "ar", "maskgit"]
    for name, record in results["families"].items():
        q, nll, sampling = record["quality"], record["nll"], record["sampling"]
        assert q["fid"] >= 0 and q["fid_samples"] == 20, name
        assert 0 <= q["precision"] <= 1 and 0 <= q["recall"] <= 1 and 0 <= q["cond_accuracy"] <= 1
        assert 0 < nll["bits_per_dim"] < 12
        assert record["cost"]["flops_per_sample"] >= record["cost"]["flops_per_forward"] > 0
        assert sampling["latency_s_per_image"] > 0 and sampling["peak_memory_mb"] > 0
        assert (out / record["grid"]).stat().st_size > 100
    ar = results["families"]["ar"]
    assert ar["nll"]["kind"] == "exact" and ar["sampling"]["nfe"] == 8 * 8  # one step per pixel
    assert results["families"]["dit"]["sampling"]["nfe"] == 3  # the smoke sampler's steps
    maskgit = results["families"]["maskgit"]
    assert maskgit["sampling"]["nfe"] == 3  # its decoding steps K, not one per pixel
    assert "not an exact likelihood" in maskgit["nll"]["kind"]
    studies = results["studies"]
    assert len(studies["nfe"]) == 2 * 2 * 2  # diffusion families × samplers × step counts
    assert {r["family"] for r in studies["cfg"]} == {"unet", "dit", "ar", "maskgit"}
    assert {r["family"] for r in studies["resolution"]} == {"unet", "dit", "ar", "maskgit"}
    for row in studies["resolution"]:  # tensor allocations, not the allocator's cache
        assert row["skipped"] or row["train_peak_mb"] > row["sample_peak_mb"] > 0
    _check_claims(results["claims"])
    # every verdict follows from the evidence the results file stores
    capsys.readouterr()
    assert main(["recheck", str(out)]) == 0, capsys.readouterr().err
    rechecked = capsys.readouterr().out
    assert "DIFFERS" not in rechecked and rechecked.count(" ok ") >= 10
    assert (out / "report" / "receptive_fields.png").exists()
    assert all(r["radius_90_px"] >= r["radius_50_px"] >= 0 for r in studies["receptive_field"])
    page = (out / "report" / "index.html").read_text()
    assert "Attention range" in page and page.count("<img") >= 3 + 4
    assert "| family |" in printed.out  # the summary table
    logged = {
        line.split("]")[0][1:]: line for line in printed.err.splitlines() if "training (" in line
    }
    assert "decaying" in logged["unet"] and "decaying" not in logged["ar"]  # each its own schedule
    # a second run reuses the cached reference statistics and domain classifier
    assert any(p.suffix == ".npz" for p in cache.iterdir())


def _check_claims(claims: list[dict]) -> None:
    """Every claim of the ledger, in order, with a verdict; intervals hold their values."""
    assert [c["id"] for c in claims] == [f"C{i}" for i in range(1, 16)]
    for c in claims:
        assert c["verdict"] in {"supported", "refuted", "inconclusive", "unstable", "not_run"}
        assert c["command"].startswith("trigen compare") and c["why"]
        if c["verdict"] == "not_run":
            continue
        assert c["measured"], c["id"]
        assert "evidence" in c["details"], c["id"]  # what `trigen recheck` decides on
        for m in c["measured"]:
            if m["value"] is None:  # nothing measurable (C15: a ceiling not above chance)
                assert m["low"] is None and m["high"] is None, (c["id"], m)
                continue
            low = -float("inf") if m["low"] is None else m["low"]  # None: no interval
            high = float("inf") if m["high"] is None else m["high"]
            assert low <= m["value"] <= high and m["n"] >= 1 and m["n_of"], (c["id"], m)
            assert m["method"] != "exact"


def test_every_family_trains_with_the_comparison_settings():
    from trigen.compare.settings import FAMILY_TRAINING
    from trigen.compare.training import train_config
    from trigen.experiment.settings import compare_settings

    s = compare_settings("demo", minutes_per_family=1.5)
    for name in s.families:
        cfg = train_config(name, s)
        assert cfg.max_minutes == 1.5 and cfg.max_images is None
        assert cfg.ema_halflife_images == s.ema_halflife_images
        assert cfg.warmup_images == s.warmup_images
        recipe = FAMILY_TRAINING[name].get("lr_cooldown", s.lr_cooldown)
        assert cfg.lr_cooldown == recipe  # the shared schedule unless the recipe says otherwise
        assert cfg.resolution == s.resolution and cfg.dataset == s.dataset
        assert cfg.batch_size == FAMILY_TRAINING[name]["batch_size"]  # each family's recipe
    forced = compare_settings("demo", batch_size=8)
    assert {train_config(name, forced).batch_size for name in forced.families} == {8}
    assert "last 30%" in s.budget_text  # the report states the schedule with the budget
    constant = compare_settings("demo", lr_cooldown=0.0)
    assert "lr" not in constant.budget_text
    assert {train_config(name, constant).lr_cooldown for name in constant.families} == {0.0}
    assert train_config(FamilyName.DIT, s).lr_cooldown == 0.3
    with pytest.raises(ConfigError, match="lr_cooldown"):
        compare_settings("demo", lr_cooldown=1.0)


def test_dit_variant_studies_keep_the_recipe_and_change_one_thing():
    from trigen.compare.studies import variant_configs
    from trigen.compare.training import train_config
    from trigen.config import FamilyName
    from trigen.experiment.settings import compare_settings

    base = train_config(FamilyName.DIT, compare_settings("hour"))
    for study, field in (("conditioning", "conditioning"), ("dit_scaling", "depth")):
        configs = [cfg for _, cfg in variant_configs(base, study)]
        assert len({str(cfg.model_overrides[field]) for cfg in configs}) == len(configs) > 1
        for cfg in configs:
            assert cfg.model_overrides["rope"] is True  # what the headline DiT trained with
            assert cfg.lr == base.lr and cfg.batch_size == base.batch_size
