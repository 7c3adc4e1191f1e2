"""C10 from its evidence: FID∞ at the largest NFE below 10 ÷ at the most NFE, per family."""

from __future__ import annotations

import numpy as np

from trigen.claims.ledger import Verdict
from trigen.claims.steps import decide_c10, primary_sampler, steps_for_nfe
from trigen.eval.fid_bootstrap import FidDraws


def draws(value: float, spread: float, samples: int = 64, seed: int = 0) -> dict:
    """A FID's draws whose replicates sit ``spread``-wide one spread above the plug-in."""
    reps = value + spread + np.random.default_rng(seed).normal(0, spread, 200)
    return FidDraws(value, reps, samples, 300, 16).to_dict()


def evidence(few: float, many: float, spread: float, samples: int = 64) -> dict:
    entry = {
        "sampler": "dpmpp_2m",
        "few": {"nfe": 5, "fid": draws(few, spread, samples, 1)},
        "many": {"nfe": 250, "fid": draws(many, spread, samples, 2)},
    }
    return {"primary": {"unet": entry, "dit": entry}}


def test_few_steps_far_short_of_many_support_and_as_good_refute():
    assert decide_c10(evidence(30.0, 10.0, 0.5))[1].verdict is Verdict.SUPPORTED
    assert decide_c10(evidence(10.0, 10.0, 0.05))[1].verdict is Verdict.REFUTED
    assert decide_c10(evidence(11.0, 10.0, 1.0))[1].verdict is Verdict.INCONCLUSIVE


def test_too_few_samples_for_the_feature_dimension_decide_nothing():
    measured, decision = decide_c10(evidence(30.0, 10.0, 0.5, samples=32))  # 32 < 4 · 16
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert not measured[0].determined and "no interval" in measured[0].method


def test_the_ratio_is_bias_corrected_and_jointly_covering():
    (ratio, *_), _ = decide_c10(evidence(30.0, 10.0, 0.5))
    # plug-ins 30 / 10 = 3; each corrected down by its bias (0.5): 29.5 / 9.5
    assert abs(ratio.value - 29.5 / 9.5) < 0.1
    assert ratio.level == 0.975 and "Bonferroni" in ratio.method  # two families share 5 %


def test_primary_sampler_is_stated_before_measuring_and_heun_steps_map_to_nfe():
    assert primary_sampler(("ddim", "dpmpp_2m", "heun")) == "dpmpp_2m"
    assert primary_sampler(("ddim", "heun")) == "ddim"
    assert steps_for_nfe("heun", 10) == 5 and steps_for_nfe("ddim", 10) == 10
    assert steps_for_nfe("heun", 250) == 125  # NFE 2·125 − 1 = 249
