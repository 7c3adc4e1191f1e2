"""C14's sweeps: MaskGIT's latency points at a fixed K, its place in the resolution sweep, and
the claim's refusal to run without its two families."""

from types import SimpleNamespace

from trigen.claims.ledger import Verdict
from trigen.claims.maskgit import maskgit_latency_vs_tokens, parallel_decoding_claim
from trigen.claims.scaling import resolution_sweep
from trigen.config import FamilyName, TrainConfig

FAST = {"repeats": 1, "retries": 0}  # properties only: no timing is asserted
MASKGIT = TrainConfig(
    family="maskgit",
    model="maskgit-tiny",
    model_overrides={"width": 32, "depth": 1, "positions": "rope"},
)


def test_latency_points_decode_in_k_steps_at_most_one_per_token():
    points = maskgit_latency_vs_tokens(MASKGIT, (4, 6), steps=20, **FAST)
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
    ctx = SimpleNamespace(runs={FamilyName.AR: None}, evaluators=None, claims=None)
    result = parallel_decoding_claim(ctx)
    assert result.verdict is Verdict.NOT_RUN and "maskgit" in result.why
