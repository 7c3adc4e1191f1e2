"""Every verdict rule flips when its measurement crosses the boundary, and only then."""

from __future__ import annotations

import pytest

from trigen.claims import rules
from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Verdict

S, R, N = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE


def around(value: float, half: float = 0.1, name: str = "x", level: float = 0.95) -> Estimate:
    return Estimate(name, value, value - half, value + half, "", 3, "test", level=level)


# rule, which side of its boundary supports, and the boundary
ONE_SIDED = [
    (rules.c1_long_range, "above", 0.0),
    (rules.c2_fine_detail, "below", 0.0),
    (lambda e: rules.c3_conditioning([e]), "above", 0.0),
    (rules.c4_vit_init, "above", 0.0),
    (rules.c5_scaling, "below", 0.0),
    (rules.c8_resolution, "above", 0.0),
    (rules.c12_gpt2_init, "above", 0.0),
    (rules.c13_speed, "below", 1.0),
    (lambda e: rules.c9_likelihood([e]), "below", 0.0),
    (lambda e: rules.c10_steps([e]), "above", rules.WITHIN),
    (rules.c7_serial, "inside", 1.0),
    (
        lambda e: rules.c15_uniform_injection({"map": e}, {"map": around(0.5)}),
        "above",
        -rules.SAME_ADHERENCE,
    ),
]


@pytest.mark.parametrize(("rule", "claimed", "bound"), ONE_SIDED)
def test_one_sided_rules_flip(rule, claimed, bound):
    sign = 1 if claimed in ("above", "inside") else -1
    assert rule(around(bound + sign * 0.5 * (claimed != "inside"))).verdict is S
    assert rule(around(bound - sign * 0.5 - (claimed == "inside"))).verdict is R
    assert rule(around(bound, half=0.5)).verdict is N


@pytest.mark.parametrize(("rule", "claimed", "bound"), ONE_SIDED)
def test_an_interval_touching_the_bound_decides_nothing(rule, claimed, bound):
    """Boundary: an end exactly on the bound is neither side of it."""
    if claimed == "inside":
        lo, hi = rules.LINEAR_EXPONENT
        touching = [Estimate("x", hi, 1.0, hi, "", 3, "t"), Estimate("x", lo, lo, 1.0, "", 3, "t")]
    else:
        touching = [
            Estimate("x", bound + 0.1, bound, bound + 0.2, "", 3, "t"),
            Estimate("x", bound - 0.1, bound - 0.2, bound, "", 3, "t"),
        ]
    for e in touching:
        assert rule(e).verdict is N, e


@pytest.mark.parametrize(("rule", "claimed", "bound"), ONE_SIDED)
def test_no_interval_or_too_little_coverage_decides_nothing(rule, claimed, bound):
    far = bound + (5.0 if claimed != "below" else -5.0) if claimed != "inside" else 1.0
    assert rule(Estimate.undetermined("x", far, "one seed")).verdict is N
    assert rule(around(far, level=0.75)).verdict is N  # a min–max of 3 rounds


def test_c6_memory_flips_on_the_order_of_the_two_families():
    small, large = Estimate.exact("dit", 10.0), Estimate.exact("unet", 20.0)
    assert rules.c6_memory(small, large).verdict is S
    assert rules.c6_memory(large, small).verdict is R
    assert rules.c6_memory(small, Estimate.exact("unet", 10.0)).verdict is N


def test_c9_is_refuted_by_one_diffusion_family_below_ar():
    assert rules.c9_likelihood([around(-1), around(-2)]).verdict is S
    assert rules.c9_likelihood([around(-1), around(2)]).verdict is R
    assert rules.c9_likelihood([around(-1), around(0, half=1)]).verdict is N
    assert rules.c9_likelihood([]).verdict is Verdict.NOT_RUN


def test_c10_is_refuted_by_one_family_that_needs_fewer_than_ten_steps():
    short, enough = around(2.0), around(1.0, half=0.05)
    assert rules.c10_steps([short, short]).verdict is S
    assert rules.c10_steps([short, enough]).verdict is R
    assert rules.c10_steps([]).verdict is Verdict.NOT_RUN


def test_c11_sees_a_clear_loser_even_when_the_others_tie():
    """The audit's case: AR 0.60 [0.50, 0.70] at 8 px below U-Net and DiT, which overlap."""
    loser = rules.best_at("ar", "8 px", {"unet": around(-0.28), "dit": around(-0.2)})
    assert loser.verdict is R
    tie = rules.best_at("ar", "8 px", {"unet": around(0.3), "dit": around(0.0, half=0.2)})
    assert tie.verdict is N
    win = rules.best_at("ar", "8 px", {"unet": around(0.3), "dit": around(0.2)})
    assert win.verdict is S
    assert rules.c11_best_use([win, win, win]).verdict is S
    assert rules.c11_best_use([win, tie, win]).verdict is N
    assert rules.c11_best_use([win, win, loser]).verdict is R


def test_c3_decides_on_the_class_label_alone():
    """Conditions beyond the class label are C15's: C3 no longer waits for them."""
    assert rules.c3_conditioning([around(0.3), around(0.2)]).verdict is S
    assert rules.c3_conditioning([around(0.3), around(-0.3)]).verdict is R
    assert rules.c3_conditioning([around(0.3), around(0.0)]).verdict is N


def test_c14_needs_speed_at_equal_quality_a_flat_maskgit_and_a_growing_ar():
    fast, slow = around(20.0, half=2), around(3.0, half=1)
    flat, steep = around(0.1), around(1.0)

    def verdict(speedup, maskgit_exp, ar_exp, equal_quality=True):
        return rules.c14_parallel_decoding(
            speedup, maskgit_exp, ar_exp, equal_quality=equal_quality
        ).verdict

    assert verdict(fast, flat, steep) is S
    assert verdict(slow, flat, steep) is R  # not 10× faster: the primary test refutes
    assert verdict(fast, steep, steep) is N  # MaskGIT's latency grows: secondary, holds back
    assert verdict(fast, flat, flat) is N  # AR's latency does not grow: secondary
    assert verdict(slow, steep, flat) is R
    assert verdict(around(10.0, half=2), flat, steep) is N  # straddles 10×
    assert verdict(fast, around(0.5, half=0.2), steep) is N  # straddles flat
    assert verdict(fast, flat, steep, equal_quality=False) is N  # faster but worse
    assert verdict(slow, flat, steep, equal_quality=False) is R


def test_every_claim_has_a_rule_text_and_a_command_and_serialises():
    assert list(CLAIMS) == [f"C{i}" for i in range(1, 16)]
    for claim in CLAIMS.values():
        assert claim.rule and claim.command.startswith("trigen ")
        d = ClaimResult.not_run(claim, "not in this preset").to_dict()
        assert d["verdict"] == "not_run" and d["id"] == claim.id


def test_estimate_round_trips_and_refuses_an_interval_that_excludes_its_value():
    e = Estimate("x", 2.0, 1.5, 3.0, "MB", 7, "bootstrap", "samples", 0.9)
    assert Estimate.from_dict(e.to_dict()) == e
    u = Estimate.undetermined("slope", 1.2, "2 points", n=2, n_of="points")
    assert u.to_dict()["low"] is None and Estimate.from_dict(u.to_dict()) == u
    with pytest.raises(ValueError, match="excludes its value"):
        Estimate("x", 2.0, 2.5, 3.0, "MB", 7, "bootstrap")  # no silent widening
    with pytest.raises(ValueError, match="reversed"):
        Estimate("x", 2.0, 3.0, 1.0)


def test_a_one_sided_interval_still_decides_on_its_finite_side():
    """FID∞(NFE 5) ÷ FID∞(NFE 250) when the denominator's interval reaches 0: [low, ∞)."""
    clears = Estimate("ratio", 2.0, 1.5, float("inf"), "×")
    assert clears.determined and rules.c10_steps([clears]).verdict is S
    below = Estimate("ratio", 1.0, 0.0, float("inf"), "×")
    assert rules.c10_steps([below]).verdict is N
    assert "[1.5, ∞]" in rules.c10_steps([clears]).why
