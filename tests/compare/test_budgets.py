"""The comparison's training budget: equal training FLOPs per family in every preset, overrides of
another kind replacing it, claims' own budgets replacing it whole, and the report saying both
the budget and what each family got of it."""

import json

import pytest

from trigen.cli import main
from trigen.compare.settings import BUDGET_FIELDS
from trigen.compare.studies import VARIANT_STUDIES, variant_configs
from trigen.compare.training import train_config
from trigen.config import FamilyName
from trigen.errors import ConfigError
from trigen.experiment.settings import PRESETS, compare_settings
from trigen.report.table import metric_rows, training_spent

from .stand_ins import step_flops


@pytest.mark.parametrize("preset", ["demo", "hour", "claims", "smoke"])
def test_every_preset_gives_every_family_the_same_training_flops(preset):
    s = PRESETS[preset]
    assert s.flops_per_family and s.minutes_per_family is None and s.images_per_family is None
    assert "training FLOPs per family" in s.budget_text
    configs = [train_config(name, s) for name in (*s.families, FamilyName.MASKGIT)]
    assert {c.max_flops for c in configs} == {s.flops_per_family}
    assert all(c.max_minutes is None and c.max_images is None for c in configs)
    for cfg in configs:  # the budget buys every family, MaskGIT included, one step at least
        assert step_flops(cfg) <= s.flops_per_family, cfg.family


@pytest.mark.parametrize("preset", ["hour", "smoke"])
def test_a_preset_s_variant_runs_train_one_step_at_least(preset):
    s = PRESETS[preset]
    assert s.variant_budget == {"max_flops": s.conditioning_flops}
    for study, family in VARIANT_STUDIES.items():
        for variant, cfg in variant_configs(train_config(family, s, **s.variant_budget), study):
            assert cfg.max_flops == s.conditioning_flops and cfg.max_minutes is None
            assert step_flops(cfg) <= s.conditioning_flops, (study, variant)


def test_a_budget_of_another_kind_replaces_the_preset_s():
    minutes = compare_settings("demo", minutes_per_family=3.0)
    assert (minutes.minutes_per_family, minutes.flops_per_family) == (3.0, None)
    assert minutes.variant_budget == {"max_minutes": minutes.conditioning_minutes}
    images = compare_settings("smoke", images_per_family=256)
    assert (images.images_per_family, images.flops_per_family) == (256, None)
    assert images.variant_budget == {"max_images": 256}
    flops = compare_settings("demo", flops_per_family=2e12)
    assert flops.flops_per_family == 2e12 and "2e+12 training FLOPs" in flops.budget_text
    assert (
        compare_settings("demo", flops_per_family=None).flops_per_family
        == PRESETS["demo"].flops_per_family
    )  # an option left out keeps the preset's
    with pytest.raises(ConfigError, match="exactly one budget"):
        compare_settings("demo", minutes_per_family=1.0, flops_per_family=1e12)
    for name in BUDGET_FIELDS:
        with pytest.raises(ConfigError, match=f"{name} must be positive"):
            compare_settings("demo", **{name: -1})


def test_a_claim_s_own_budget_replaces_the_comparison_s_whole():
    s = PRESETS["demo"]
    own = train_config(FamilyName.DIT, s, max_minutes=1.5, max_images=None)
    assert (own.max_minutes, own.max_images, own.max_flops) == (1.5, None, None)
    images = train_config(FamilyName.DIT, s, max_minutes=None, max_images=12_000)
    assert (images.max_images, images.max_flops) == (12_000, None)
    same = train_config(FamilyName.DIT, s, seed=3, max_minutes=None)  # no budget named
    assert same.max_flops == s.flops_per_family and same.seed == 3


def test_compare_flops_option_rejects_a_budget_that_is_not_positive(capsys):
    code = main(["compare", "--preset", "smoke", "--flops", "0", "--out", "unused"])
    err = capsys.readouterr().err
    assert code == 2 and "flops_per_family must be positive" in err
    assert len(err.strip().splitlines()) == 1


def test_the_report_header_says_the_budget_and_what_each_family_got(tmp_path):
    from trigen.report.render import render

    train = {"images_seen": 60_000, "flops": 1.2e13, "flops_per_image": 2e8, "seconds": 90.0}
    results = {
        "meta": {"dataset": "mnist", "budget": PRESETS["demo"].budget_text},
        "families": {
            "unet": {"train": train, "quality": {"fid": 40.0}, "nll": {}},
            "dit": {"train": {"images_seen": 5000}, "quality": {"fid": 41.0}, "nll": {}},
        },
        "studies": {},
    }
    spent = training_spent(results)
    assert spent.startswith("U-Net") and "60k images, 1.2e+13 FLOPs, 1.5 min" in spent
    assert spent.endswith("5,000 images")  # a reused run: the images its checkpoint says
    (tmp_path / "results.json").write_text(json.dumps(results))
    md, _ = render(tmp_path)
    lines = md.read_text().splitlines()
    budget = next(i for i, line in enumerate(lines) if line.startswith("- budget: 1.2e+13"))
    assert lines[budget + 1] == f"- trained: {spent}"
    assert "training compute (FLOPs)" in metric_rows(results)[0]
