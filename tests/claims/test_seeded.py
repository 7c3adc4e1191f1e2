"""Claims decided per training seed and pooled: the unstable rule on both sides, the per-seed
split of stored evidence, and claims on the comparison's families run once per seed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from trigen.claims import registry, rules, seeded
from trigen.claims.ledger import CLAIMS, ClaimResult, Verdict
from trigen.claims.rules import Decision
from trigen.eval.fid_bootstrap import FidDraws

S, R, U = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE  # U: undecided


def _d(verdict: Verdict) -> Decision:
    return Decision(verdict, f"measured {verdict.value}")


@pytest.mark.parametrize("verdict", [S, R])
def test_seeds_that_agree_give_their_verdict_and_name_the_pooled_one(verdict):
    decision = rules.across_seeds({0: _d(verdict), 1: _d(verdict), 2: _d(verdict)}, _d(U))
    assert decision.verdict is verdict
    assert "pooled over seeds: inconclusive" in decision.why and "seed 2" in decision.why


@pytest.mark.parametrize(
    ("first", "other"), [(S, R), (R, S), (S, U), (U, R)], ids=lambda v: v.value
)
def test_one_seed_that_disagrees_makes_the_claim_unstable(first, other):
    for pooled in (S, R, U):
        decision = rules.across_seeds({0: _d(first), 1: _d(first), 5: _d(other)}, _d(pooled))
        assert decision.verdict is Verdict.UNSTABLE
        assert f"seed 5: {other.value}" in decision.why
        assert f"pooled over seeds: {pooled.value}" in decision.why


def test_seeds_that_all_cannot_tell_leave_it_to_the_pool():
    for pooled in (S, R, U):
        assert rules.across_seeds({0: _d(U), 1: _d(U)}, _d(pooled)).verdict is pooled


def test_a_pool_that_contradicts_every_seed_is_unstable():
    assert rules.across_seeds({0: _d(S), 1: _d(S)}, _d(R)).verdict is Verdict.UNSTABLE


def test_one_seed_or_a_claim_not_run_is_the_pooled_decision():
    assert rules.across_seeds({0: _d(S)}, _d(U)) == _d(U)
    not_run = Decision(Verdict.NOT_RUN, "no family")
    assert rules.across_seeds({0: _d(S), 1: _d(R)}, not_run) == not_run


def _c3_evidence(adaln_zero_better: list[bool], n: int = 200) -> dict:
    """C3 evidence: per seed, 0/1 correctness per sample of adaLN-Zero and one rival; the better
    one right 90 % of the time, the other 40 %."""
    rng = np.random.default_rng(0)
    correct: dict[str, list] = {"adaln_zero": [], "in_context": []}
    for better in adaln_zero_better:
        good, bad = (rng.random(n) < 0.9).astype(float), (rng.random(n) < 0.4).astype(float)
        correct["adaln_zero"].append((good if better else bad).tolist())
        correct["in_context"].append((bad if better else good).tolist())
    return {"correct": correct, "seeds": list(range(10, 10 + len(adaln_zero_better)))}


def test_a_claim_is_decided_on_each_seed_alone_and_pooled():
    c3 = registry.ENTRIES["C3"]
    steady = c3.judge(_c3_evidence([True, True, True]))
    assert [d.verdict for d in steady.per_seed.values()] == [S, S, S]
    assert list(steady.per_seed) == [10, 11, 12]  # the seeds the evidence names
    assert steady.decision.verdict is S and steady.pooled.verdict is S

    flipped = c3.judge(_c3_evidence([True, False, True]))
    assert [d.verdict for d in flipped.per_seed.values()] == [S, R, S]
    assert flipped.decision.verdict is Verdict.UNSTABLE
    assert flipped.pooled is not None and "seed 11: refuted" in flipped.decision.why
    # the stored result carries every seed's verdict and the pooled one, and recheck agrees
    result = c3.result(_c3_evidence([True, False, True]), n_seeds=3, n_samples=200)
    d = result.to_dict()["details"]
    assert [v["verdict"] for v in d["per_seed_verdicts"]] == ["supported", "refuted", "supported"]
    assert d["pooled_verdict"]["verdict"] == flipped.pooled.verdict.value
    _, decision = registry.decide("C3", result.details["evidence"])
    assert decision.verdict is Verdict.UNSTABLE


def test_one_seed_is_decided_once_as_before():
    c3 = registry.ENTRIES["C3"]
    judged = c3.judge(_c3_evidence([True]))
    assert judged.pooled is None and judged.per_seed == {}
    assert judged.decision.verdict is U  # t over one seed: no interval (issue 30)
    assert c3.result(_c3_evidence([True]), n_seeds=1, n_samples=200).details.keys() == {"evidence"}


def test_split_keeps_one_seed_of_every_per_seed_list():
    ev = {
        "correct": {"8": {"ar": [[1, 0], [0, 0]], "unet": [[1, 1], [0, 1]]}},
        "diffusion": "unet",
        "seeds": [3, 4],
    }
    pieces = seeded.split_at(ev, {"correct": 2})
    assert [p["seeds"] for p in pieces] == [[3], [4]]
    assert pieces[1]["correct"]["8"] == {"ar": [[0, 0]], "unet": [[0, 1]]}
    assert all(p["diffusion"] == "unet" for p in pieces)


def test_paired_difference_of_one_run_drops_missing_pairs():
    e = seeded.run_difference("d", [1.0, None, 3.0, 2.0], [0.0, 1.0, float("nan"), 1.0])
    assert e.n == 2 and e.value == pytest.approx(1.0)
    assert not seeded.run_difference("d", [1.0, None], [0.0, 1.0]).determined


def _c9_run(ar_lower: bool, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ar = rng.normal(1.0, 0.05, 64)
    unet = ar + (0.3 if ar_lower else -0.3) + rng.normal(0, 0.05, 64)
    return {"bits_per_dim": {"ar": ar.tolist(), "unet": unet.tolist()}}


def test_claims_on_trained_families_run_once_per_training_seed():
    """C9 through ``over_training_seeds``: one run per seed of the comparison's families, one
    result holding every seed's evidence, decided per seed and pooled."""
    c9 = registry.ENTRIES["C9"]
    outcome = {0: True, 1: False}
    seen = []

    def run(ctx):
        seen.append(ctx.training_seed)
        ev = _c9_run(outcome[ctx.training_seed], ctx.training_seed)
        return (c9.result(ev, n_seeds=1, n_samples=64, details={"seed": ctx.training_seed}),)

    def for_seed(seed):
        return SimpleNamespace(training_seed=seed, log=lambda _: None)

    ctx = SimpleNamespace(training_seeds=lambda: (0, 1), for_seed=for_seed, log=lambda _: None)
    (result,) = seeded.over_training_seeds(ctx, run, (c9,))
    assert seen == [0, 1]
    assert result.verdict is Verdict.UNSTABLE and result.n_seeds == 2
    assert result.details["evidence"]["seeds"] == [0, 1]
    assert result.details["details_of_seed"] == 0 and result.details["seed"] == 0
    assert [d["seed"] for d in result.details["other_seeds_details"]] == [1]
    per_seed = [v["verdict"] for v in result.details["per_seed_verdicts"]]
    assert per_seed == ["supported", "refuted"]
    assert registry.decide("C9", result.details["evidence"])[1].verdict is Verdict.UNSTABLE

    outcome[1] = True
    seen.clear()
    (steady,) = seeded.over_training_seeds(ctx, run, (c9,))
    assert steady.verdict is S
    # one training seed: the run as it is, its evidence stored bare
    single = SimpleNamespace(training_seeds=lambda: (0,), training_seed=0)
    (alone,) = seeded.over_training_seeds(single, run, (c9,))
    assert "per_seed" not in alone.details["evidence"] and alone.verdict is S


def test_a_claim_not_run_on_one_seed_is_not_run():
    c9 = registry.ENTRIES["C9"]
    ctx = SimpleNamespace(
        training_seeds=lambda: (0, 1),
        for_seed=lambda s: SimpleNamespace(training_seed=s),
        log=lambda _: None,
    )
    (result,) = seeded.over_training_seeds(ctx, lambda c: (c9.not_run("no AR"),), (c9,))
    assert result == ClaimResult.not_run(CLAIMS["C9"], "no AR")


@pytest.mark.parametrize("key", list(CLAIMS))
def test_training_dependent_claims_are_decided_per_seed(key):
    """Every claim on trained networks declares how it is decided per seed, except those whose
    runs give one number each (no interval within a run: C4, C12) and those on untrained
    networks (C6, C7)."""
    once = {"C4", "C6", "C7", "C12"}
    assert (registry.ENTRIES[key].per_seed is None) == (key in once)


def _fid(value: float, spread: float, seed: int) -> dict:
    """A FID's draws: replicates ``spread``-wide one spread above the plug-in (64 samples)."""
    reps = value + spread + np.random.default_rng(seed).normal(0, spread, 200)
    return FidDraws(value, reps, 64, 300, 16).to_dict()


def _c10_run(few: float, seed: int) -> dict:
    entry = {
        "sampler": "dpmpp_2m",
        "few": {"nfe": 5, "fid": _fid(few, 0.3, seed)},
        "many": {"nfe": 250, "fid": _fid(10.0, 0.3, seed + 100)},
    }
    return {"primary": {"unet": entry}}


def _wrapped(*runs: dict) -> dict:
    return {"seeds": list(range(len(runs))), "per_seed": list(runs)}


def test_c10_pools_each_seeds_ratio_over_seeds():
    far = _wrapped(_c10_run(30.0, 0), _c10_run(31.0, 1), _c10_run(29.0, 2))
    measured, decision = registry.decide("C10", far)
    assert decision.verdict is S and measured[0].n_of == "seeds" and measured[0].n == 3
    assert measured[0].value == pytest.approx(np.mean([29.7, 30.7, 28.7]) / 9.7, rel=0.05)
    split = _wrapped(_c10_run(30.0, 0), _c10_run(10.0, 1))  # seed 1: few steps suffice
    assert registry.decide("C10", split)[1].verdict is Verdict.UNSTABLE


def test_c10_cannot_decide_where_many_steps_reach_the_real_images():
    """FID∞ at the most NFE estimated 0 (the samples as close to the test images as the set
    size can tell): the ratio is undefined on that seed, so the family decides nothing — no
    crash, no verdict from a 0/0."""
    indistinguishable = {"unet": {**_c10_run(30.0, 0)["primary"]["unet"]}}
    indistinguishable["unet"]["many"] = {"nfe": 250, "fid": _fid(0.2, 0.3, 5)}  # FID∞ → 0
    runs = _wrapped(_c10_run(30.0, 1), {"primary": indistinguishable})
    measured, decision = registry.decide("C10", runs)
    assert decision.verdict is Verdict.UNSTABLE  # seed 0 supported; seed 1 cannot tell
    pooled = measured[0]
    assert not pooled.determined and "undefined on 1 of 2 seeds" in pooled.method


def _c13_run(diffusion_s: float, ar_s: float) -> dict:
    rounds = 6
    return {
        "seconds": {
            "unet": [diffusion_s] * rounds,
            "ar": [ar_s * (1 + 0.01 * i) for i in range(6)],
        },
        "fastest": "unet",
        "batch": 16,
    }


def test_c13_pools_each_seeds_median_ratio():
    fast = _wrapped(_c13_run(0.1, 1.0), _c13_run(0.11, 1.0))
    measured, decision = registry.decide("C13", fast)
    assert decision.verdict is S and measured[0].n == 2 and measured[0].n_of == "seeds"
    assert (
        registry.decide("C13", _wrapped(_c13_run(0.1, 1.0), _c13_run(2.0, 1.0)))[1].verdict
        is Verdict.UNSTABLE
    )


def _c14_run(speedup: float, equal: bool = True) -> dict:
    tokens = [16, 36, 64]
    return {
        "seconds": {"ar": [speedup * (1 + 0.01 * i) for i in range(6)], "maskgit": [1.0] * 6},
        "equal_quality": equal,
        "latency": {
            "maskgit": {"tokens": tokens, "seconds": [1.0, 1.01, 1.02]},
            "ar": {"tokens": tokens, "seconds": [t / 16 for t in tokens]},
        },
    }


def test_c14_pools_the_speed_up_and_needs_equal_quality_on_every_seed():
    both = _wrapped(_c14_run(30.0), _c14_run(32.0))
    measured, decision = registry.decide("C14", both)
    assert measured[0].n_of == "seeds" and measured[0].value == pytest.approx(
        31.0 * 1.025
    )  # medians of rounds
    assert decision.verdict is S
    short = _wrapped(_c14_run(30.0), _c14_run(32.0, equal=False))
    judged = registry.ENTRIES["C14"].judge(short)
    assert judged.per_seed[1].verdict is U  # a speed-up below AR's quality supports nothing
    assert judged.decision.verdict is Verdict.UNSTABLE and judged.pooled.verdict is U


def _c5_run(slope: float, seed: int) -> dict:
    gflops = [0.1, 0.2, 0.4, 0.8]
    fids = [40.0 * (g / 0.1) ** slope for g in gflops]
    return {"gflops": gflops, "fid": [_fid(f, 0.2, seed + i) for i, f in enumerate(fids)]}


def test_c5_pools_each_seeds_slope_over_seeds():
    down = _wrapped(_c5_run(-0.5, 0), _c5_run(-0.45, 10), _c5_run(-0.55, 20))
    measured, decision = registry.decide("C5", down)
    assert decision.verdict is S and measured[0].n == 3 and measured[0].value < 0
    mixed = _wrapped(_c5_run(-0.5, 0), _c5_run(0.5, 10))
    assert registry.decide("C5", mixed)[1].verdict is Verdict.UNSTABLE


def test_c9_pooled_is_t_over_seeds_of_each_seeds_paired_mean():
    ev = _wrapped(_c9_run(True, 0), _c9_run(True, 1), _c9_run(True, 2))
    measured, decision = registry.decide("C9", ev)
    per_seed = [
        np.mean(np.subtract(r["bits_per_dim"]["ar"], r["bits_per_dim"]["unet"]))
        for r in ev["per_seed"]
    ]
    assert measured[0].value == pytest.approx(np.mean(per_seed)) and measured[0].n_of == "seeds"
    assert decision.verdict is S  # AR's exact NLL below the ELBO on every seed
