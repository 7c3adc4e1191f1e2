"""The objective study: one U-Net recipe trained by diffusion and by flow matching."""

import dataclasses

from trigen.compare.run import train_config
from trigen.compare.settings import PRESETS, Study, compare_settings
from trigen.compare.studies import VARIANT_STUDIES, variant_configs
from trigen.config import FamilyName
from trigen.diffusion.precond import Objective


def test_objective_study_changes_only_the_objective() -> None:
    base = train_config(FamilyName.UNET, compare_settings("hour"))
    (diffusion_name, diffusion), (flow_name, flow) = variant_configs(base, Study.OBJECTIVE)
    assert diffusion == base and "U-Net" in diffusion_name and "flow" in flow_name
    assert flow.diffusion.objective is Objective.FLOW
    assert dataclasses.replace(flow, diffusion=base.diffusion) == base
    assert VARIANT_STUDIES[Study.OBJECTIVE] is FamilyName.UNET


def test_objective_study_runs_in_the_long_presets_only() -> None:
    assert Study.OBJECTIVE in PRESETS["hour"].studies
    assert Study.OBJECTIVE in PRESETS["claims"].studies
    assert Study.OBJECTIVE not in PRESETS["demo"].studies  # the demo's runtime stays
