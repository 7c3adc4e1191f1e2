"""The claims' own trainings run at fixed compute (issue 27): every experiment that trains
declares a FLOPs budget beside its wall-clock minutes, every preset sets it, it buys every model
the claim compares one optimizer step at least, and a tiny run trains each of them for it (each
run stops at the first step that reaches it), recording what each got."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from types import SimpleNamespace

import pytest

from trigen.build import DataSpec
from trigen.claims import registry
from trigen.claims.mirror import MIRROR, _matched_dit
from trigen.claims.settings import ClaimSettings, budget_text, claim_budget
from trigen.cli import main
from trigen.compare.training import TRAIN_BUDGETS, train_config
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import load_dataset
from trigen.errors import ConfigError
from trigen.experiment.settings import PRESETS
from trigen.measure import evaluators
from trigen.measure.variants import conditioning_configs
from trigen.provenance import code_commit

from .stand_ins import BandFeatures, step_flops

MINUTES = "_minutes"


def training_budgets() -> list[str]:
    """The experiments that train runs of their own, by the prefix of their budget settings."""
    return sorted(
        {
            name.removesuffix(MINUTES)
            for entry in registry.ENTRIES.values()
            for name in entry.settings
            if name.endswith(MINUTES)
        }
    )


def test_every_claim_that_trains_declares_a_flops_budget_beside_its_minutes():
    assert training_budgets() == ["injection", "mirror", "resolution", "variant"]
    for entry in registry.ENTRIES.values():
        for name in entry.settings:
            if name.endswith(MINUTES):
                assert f"{name.removesuffix(MINUTES)}_flops" in entry.settings, entry.key


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_s_claim_trainings_have_a_flops_budget(preset):
    s = PRESETS[preset]
    for prefix in training_budgets():
        flops = getattr(s.claims, f"{prefix}_flops")
        assert flops is not None and flops > 0, prefix
        budget = claim_budget(flops, getattr(s.claims, f"{prefix}{MINUTES}"))
        assert budget == {"max_flops": flops}
        cfg = train_config(FamilyName.DIT, s, **budget)  # replaces the comparison's budget whole
        assert {b: getattr(cfg, b) for b in TRAIN_BUDGETS} == {
            "max_steps": None,
            "max_images": None,
            "max_minutes": None,
            "max_flops": flops,
        }


STEPS: dict[str, int] = {}  # one optimizer step's FLOPs by config: presets share models


def _step(cfg: TrainConfig) -> int:
    key = repr(dataclasses.replace(cfg, max_flops=None, max_minutes=None))
    if key not in STEPS:
        STEPS[key] = step_flops(cfg)
    return STEPS[key]


def _compared_configs(preset: str) -> dict[str, list[TrainConfig]]:
    """The models each training claim compares, as it configures them (C15 aside: its
    conditions need the digits' attributes measured)."""
    s = PRESETS[preset]
    cs, config_for = s.claims, partial(train_config, s=s)
    mirror = claim_budget(cs.mirror_flops, cs.mirror_minutes)
    unet = config_for(FamilyName.UNET, resolution=cs.mirror_resolution, dataset=MIRROR, **mirror)
    test = load_dataset(MIRROR, "test", resolution=cs.mirror_resolution)
    overrides = _matched_dit(
        SimpleNamespace(config_for=config_for), unet, DataSpec(test.shape, test.num_classes)
    )
    dit = config_for(FamilyName.DIT, resolution=cs.mirror_resolution, dataset=MIRROR, **mirror)
    dit = dataclasses.replace(dit, model_overrides={**dit.model_overrides, **overrides})
    variant = claim_budget(cs.variant_flops, cs.variant_minutes)
    variants = [c for _, c in conditioning_configs(config_for(FamilyName.DIT, **variant))]
    resolution = claim_budget(cs.resolution_flops, cs.resolution_minutes)
    return {
        "mirror": [unet, dit],
        "variant": [*variants, config_for(FamilyName.UNET, **variant)],
        "resolution": [
            config_for(FamilyName(f), resolution=res, **resolution)
            for f in cs.resolution_families
            for res in cs.quality_resolutions
        ],
    }


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_claim_s_budget_buys_every_model_it_compares_one_step_at_least(preset):
    for prefix, configs in _compared_configs(preset).items():
        flops = getattr(PRESETS[preset].claims, f"{prefix}_flops")
        assert {c.max_flops for c in configs} == {flops}, prefix  # equal for every model
        for cfg in configs:
            assert _step(cfg) <= flops, (prefix, cfg.family, cfg.resolution)


def test_without_a_flops_budget_a_claim_trains_for_its_minutes():
    cs = ClaimSettings()
    assert cs.mirror_flops is None
    budget = claim_budget(cs.mirror_flops, cs.mirror_minutes)
    assert budget == {"max_minutes": 1.5} and budget_text(budget) == "1.5 wall-clock min"
    assert budget_text(claim_budget(2e12, 1.5)) == "2e+12 training FLOPs"
    for bad in ({"variant_flops": 0.0}, {"injection_flops": -1e12}, {"mirror_minutes": 0.0}):
        with pytest.raises(ConfigError, match="must be positive"):
            ClaimSettings(**bad)


def test_a_tiny_c1_run_trains_the_u_net_and_the_dit_for_equal_flops(tmp_path, monkeypatch, capsys):
    """C1/C2 at 8 px on `mirror`, two seeds: each run reaches the budget within one step, and the
    results file names the code's commit where the package runs from a git checkout."""
    monkeypatch.setenv("TRIGEN_CACHE", str(tmp_path / "trigen-cache"))
    monkeypatch.setattr(evaluators, "InceptionFeatures", BandFeatures)
    out = tmp_path / "cmp"
    argv = ["compare", "--preset", "smoke", "--families", "unet", "--images", "32"]
    argv += ["--reference-images", "16", "--fid-samples", "8", "--studies", "", "--claims", "C1"]
    argv += ["--device", "cpu", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0, capsys.readouterr().err
    assert "mirror dit seed 1 (4e+09 training FLOPs)" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    c1 = next(c for c in results["claims"] if c["id"] == "C1")
    budget = PRESETS["smoke"].claims.mirror_flops
    assert c1["details"]["budget_per_run"] == {"max_flops": budget}
    trained = c1["details"]["trained"]
    batch = PRESETS["smoke"].batch_size
    for model in ("unet", "dit"):
        assert len(trained[model]) == len(PRESETS["smoke"].claims.seeds)
        for run in trained[model]:
            per_image = run["flops"] / run["images"]
            assert budget <= run["flops"] < budget + batch * per_image, model
            assert run["seconds"] > 0
    assert "/**/*seconds" in results["volatile_fields"]  # the time each took: volatile
    commit = code_commit()
    assert results["meta"].get("commit") == commit
