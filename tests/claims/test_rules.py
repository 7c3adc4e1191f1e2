"""Every verdict rule flips when its measurement crosses the boundary, and only then."""

from __future__ import annotations

import pytest

from trigen.claims import rules
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Verdict

S, R, N = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE


def around(value: float, half: float = 0.1, name: str = "x") -> Estimate:
    return Estimate(name, value, value - half, value + half, "", 3, "test")


# rule, which side of its boundary supports, and the boundary
ONE_SIDED = [
    (rules.c1_long_range, "above", 0.0),
    (rules.c2_fine_detail, "below", 0.0),
    (rules.c3_conditioning, "above", 0.0),
    (rules.c4_vit_init, "above", 0.0),
    (rules.c5_scaling, "below", 0.0),
    (rules.c8_resolution, "above", 0.0),
    (rules.c12_gpt2_init, "above", 0.0),
    (rules.c13_speed, "below", 1.0),
    (lambda e: rules.c9_likelihood([e]), "below", 0.0),
]


@pytest.mark.parametrize(("rule", "claimed", "bound"), ONE_SIDED)
def test_one_sided_rules_flip(rule, claimed, bound):
    sign = 1 if claimed == "above" else -1
    assert rule(around(bound + sign * 0.5)).verdict is S
    assert rule(around(bound - sign * 0.5)).verdict is R
    assert rule(around(bound, half=0.5)).verdict is N


def test_c6_memory_flips_on_the_order_of_the_two_families():
    small, large = Estimate.exact("dit", 10.0), Estimate.exact("unet", 20.0)
    assert rules.c6_memory(small, large).verdict is S
    assert rules.c6_memory(large, small).verdict is R
    assert rules.c6_memory(small, Estimate.exact("unet", 10.0)).verdict is N


def test_c7_needs_a_linear_ar_exponent_and_flat_diffusion_steps():
    flat, growing = Estimate.exact("steps", 0.0), Estimate.exact("steps", 1.0)
    assert rules.c7_serial(around(1.0), flat).verdict is S
    assert rules.c7_serial(around(2.0), flat).verdict is R
    assert rules.c7_serial(around(0.3), flat).verdict is R
    assert rules.c7_serial(around(1.3, half=0.2), flat).verdict is N
    assert rules.c7_serial(around(1.0), growing).verdict is N


def test_c9_is_refuted_by_one_diffusion_family_below_ar():
    assert rules.c9_likelihood([around(-1), around(-2)]).verdict is S
    assert rules.c9_likelihood([around(-1), around(2)]).verdict is R
    assert rules.c9_likelihood([around(-1), around(0, half=1)]).verdict is N
    assert rules.c9_likelihood([]).verdict is Verdict.NOT_RUN


def test_c10_flips_at_ten_steps():
    assert rules.c10_steps(Estimate("nfe", 20, 12, 40)).verdict is S
    assert rules.c10_steps(Estimate("nfe", 5, 4, 6)).verdict is R
    assert rules.c10_steps(Estimate("nfe", 10, 6, 20)).verdict is N


def test_c11_winners_at_both_ends():
    def scores(winner: str | None) -> dict[str, Estimate]:
        out = {f: around(0.5) for f in ("ar", "unet", "dit")}
        if winner:
            out[winner] = around(0.9)
        return out

    assert rules.c11_best_use(scores("ar"), scores("dit")).verdict is S
    assert rules.c11_best_use(scores("unet"), scores("dit")).verdict is R
    assert rules.c11_best_use(scores("ar"), scores("ar")).verdict is R
    assert rules.c11_best_use(scores(None), scores("dit")).verdict is N


def test_c14_needs_speed_at_equal_quality_a_flat_maskgit_and_a_growing_ar():
    fast, slow = around(20.0, half=2), around(3.0, half=1)
    flat, steep = around(0.1), around(1.0)

    def verdict(speedup, maskgit_exp, ar_exp, equal_quality=True):
        return rules.c14_parallel_decoding(
            speedup, maskgit_exp, ar_exp, equal_quality=equal_quality
        ).verdict

    assert verdict(fast, flat, steep) is S
    assert verdict(slow, flat, steep) is R  # not 10× faster
    assert verdict(fast, steep, steep) is R  # MaskGIT's latency grows
    assert verdict(fast, flat, flat) is R  # AR's latency does not grow
    assert verdict(around(10.0, half=2), flat, steep) is N  # straddles 10×
    assert verdict(fast, around(0.5, half=0.2), steep) is N  # straddles flat
    assert verdict(fast, flat, steep, equal_quality=False) is N  # faster but worse
    assert verdict(slow, flat, steep, equal_quality=False) is R


def test_every_claim_has_a_rule_text_and_a_command_and_serialises():
    assert list(CLAIMS) == [f"C{i}" for i in range(1, 15)]
    for claim in CLAIMS.values():
        assert claim.rule and claim.command.startswith("trigen ")
        d = ClaimResult.not_run(claim, "not in this preset").to_dict()
        assert d["verdict"] == "not_run" and d["id"] == claim.id


def test_estimate_round_trips_and_holds_its_value():
    e = Estimate("x", 2.0, 2.5, 3.0, "MB", 7, "bootstrap")
    assert e.low <= e.value <= e.high  # widened to hold the plug-in value
    assert Estimate.from_dict(e.to_dict()) == e
