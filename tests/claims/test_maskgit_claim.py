"""C14's sweeps: MaskGIT's latency points at a fixed K, its place in the resolution sweep, and
the claim's refusal to run without its two families."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import torch

from trigen.claims.ledger import Verdict
from trigen.claims.maskgit import parallel_decoding_claim
from trigen.config import FamilyName, TrainConfig
from trigen.measure.scaling import LatencySetup, maskgit_latency_vs_tokens, resolution_sweep

FAST = {"repeats": 1, "retries": 0}  # properties only: no timing is asserted
MASKGIT = TrainConfig(
    family="maskgit",
    model="maskgit-tiny",
    model_overrides={"width": 32, "depth": 1, "positions": "rope"},
)


def test_latency_points_decode_in_k_steps_at_most_one_per_token():
    points = maskgit_latency_vs_tokens(MASKGIT, (4, 6), steps=20, setup=LatencySetup(**FAST))
    assert [p.x for p in points] == [16, 36]  # tokens per image
    assert [p.steps for p in points] == [16, 20]  # K, capped at the token count
    assert all(p.timing.median_s > 0 and p.extra["batch"] == 1 for p in points)


def test_the_resolution_sweep_measures_maskgit_and_caps_its_tokens():
    points = resolution_sweep({"maskgit": MASKGIT}, (4, 16), batch=2, max_ar_tokens=64, **FAST)
    small, large = points
    assert small.skipped is None and small.train_peak_mb > small.sample_peak_mb > 0
    assert small.tokens == 16 and "16 tokens" in small.arch
    assert large.skipped and "256 tokens" in large.skipped


def test_the_claim_needs_maskgit_and_ar():
    ctx = SimpleNamespace(
        runs={FamilyName.AR: None}, evaluators=None, claims=None, training_seeds=lambda: (0,)
    )
    (result,) = parallel_decoding_claim(ctx)
    assert result.verdict is Verdict.NOT_RUN and "maskgit" in result.why


class StubDomain:
    """Domain-classifier stand-in: features from pixel means, a fixed accuracy."""

    def features(self, images):
        x = images.float().flatten(1)
        return torch.stack([x.mean(1), x.std(1), x[:, 0]], dim=1).double().numpy()

    def conditional_accuracy(self, images, labels):
        return 0.5


def test_the_claim_runs_end_to_end_on_tiny_families(tmp_path):
    from trigen.build import DataSpec, build_family
    from trigen.claims.registry import decide
    from trigen.eval.fid_bootstrap import FidBootstrap
    from trigen.eval.stats import FeatureStats
    from trigen.experiment.settings import compare_settings

    spec = DataSpec((1, 4, 4), 3)
    s = compare_settings("smoke", resolution=4, sample_batch_size=8)
    tiny = {"width": 32, "depth": 1, "heads": 4, "positions": "rope"}

    def config_for(name, **changes):
        values = {"family": name, "resolution": 4, "model_overrides": tiny, **changes}
        return TrainConfig.from_dict(values)

    runs = {}
    for name in (FamilyName.AR, FamilyName.MASKGIT):
        family = build_family(config_for(name), spec)
        family.net.eval()
        runs[name] = SimpleNamespace(family=family, data=spec)
    stub = StubDomain()
    ref_features = np.random.default_rng(0).normal(size=(64, 3))
    ref = FeatureStats.from_features(ref_features)
    claims = dataclasses.replace(
        s.claims, maskgit_steps=(2, 4), maskgit_samples=8, maskgit_resolutions=(4, 6),
        maskgit_latency_steps=3, maskgit_repeats=1, bootstrap=10,
    )  # fmt: skip
    ctx = SimpleNamespace(
        compare=s, claims=claims, runs=runs, device=torch.device("cpu"), log=lambda _: None,
        evaluators=SimpleNamespace(
            domain=stub, domain_ref_stats=ref,
            domain_fid=lambda resamples: FidBootstrap(ref_features, resamples=resamples),
        ),
        test_data=SimpleNamespace(shape=(1, 4, 4), num_classes=3), config_for=config_for,
        generator=lambda seed=None: torch.Generator().manual_seed(0),
        training_seeds=lambda: (0,),
    )  # fmt: skip
    (result,) = parallel_decoding_claim(ctx)
    assert result.verdict in (Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE)
    names = [e.name for e in result.measured]
    assert names[0] == "AR ÷ MaskGIT time per image" and len(names) == 3
    for e in result.measured:
        assert e.low <= e.value <= e.high
    assert result.measured[0].n == 6 and result.measured[0].n_of == "rounds"  # ≥ 95 % coverage
    assert not result.measured[1].determined  # 2 resolutions: a fit without an interval
    # the verdict follows from the stored evidence alone
    evidence = json.loads(json.dumps(result.details["evidence"]))
    assert decide("C14", evidence)[1].verdict is result.verdict
    d = result.details
    assert d["chosen_steps"] in (2, 4) and len(d["quality"]) == 3
    ar_q, *mg_q = d["quality"]
    reached = [q["steps"] for q in mg_q if q["fid"] <= ar_q["fid"]]
    assert d["equal_quality"] is bool(reached)
    if reached:  # the cheapest K at AR's quality is timed
        assert d["chosen_steps"] == min(reached)
    else:  # else MaskGIT's best K, and the verdict says it fell short
        assert d["chosen_steps"] == min(mg_q, key=lambda q: q["fid"])["steps"]
        assert "no K of 2/4 reached AR's quality" in result.why
    assert [p["x"] for p in d["maskgit_latency"]] == [16, 36] == [p["x"] for p in d["ar_latency"]]
    assert len(d["series"]) == 2
