"""C15: normalised adherence (0 at chance, 1 at the real-data ceiling) measured request by request,
its pooled bootstrap, the rule on both sides of each of its boundaries, and the verdict re-derived
from the stored evidence."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from trigen.claims import injection, rules
from trigen.claims.injection import UNIFORM, decide_c15
from trigen.claims.ledger import CLAIMS, Estimate, Verdict
from trigen.claims.normalised import normalised_scores, pearson, raw_scores
from trigen.claims.recheck import recheck
from trigen.claims.registry import ENTRIES
from trigen.compare.adherence_grids import stroke
from trigen.conditions import ConditionKind, ConditionSpec
from trigen.conditions_data import attach_conditions
from trigen.data.datasets import ImageDataset
from trigen.data.transforms import to_model_range
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.measure.adherence_rows import ceiling_rows, sample_rows
from trigen.measure.text_adherence import TextReference

S, R, N = Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE
MARGIN = rules.SAME_ADHERENCE
RIVALS = ("dit_specialised", "unet", "ar_prefix")


def around(value: float, half: float = 0.05, level: float = 0.95) -> Estimate:
    return Estimate("x", value, value - half, value + half, "", 100, "test", level=level)


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vector", "map", "text"])
def test_each_kind_flips_the_verdict_at_minus_the_margin(kind):
    """Two kinds measured (Bonferroni share 97.5 % each), the other one safely inside."""
    own = {"other": around(0.8, level=0.975), kind: around(0.8, level=0.975)}
    for value, verdict in [(-MARGIN + 0.06, S), (-MARGIN - 0.06, R), (-MARGIN, N)]:
        diffs = {"other": around(0.0, level=0.975), kind: around(value, level=0.975)}
        assert rules.c15_uniform_injection(diffs, own).verdict is verdict, value


def test_the_uniform_model_must_beat_chance_on_every_kind_to_support():
    diffs = {"vector": around(0.0, level=0.975), "map": around(0.0, level=0.975)}
    above = {"vector": around(0.06, level=0.975), "map": around(0.5, level=0.975)}
    at_chance = {"vector": around(0.04, level=0.975), "map": around(0.5, level=0.975)}
    assert rules.c15_uniform_injection(diffs, above).verdict is S
    assert rules.c15_uniform_injection(diffs, at_chance).verdict is N  # a tie at chance
    worse = {"vector": around(-0.5, level=0.975), "map": around(0.0, level=0.975)}
    assert rules.c15_uniform_injection(worse, at_chance).verdict is R  # its rivals learned it


def test_a_kind_not_measured_holds_back_support_but_not_a_refutation():
    own = {"map": around(0.5)}
    why = "text: not measured yet"
    held = rules.c15_uniform_injection({"map": around(0.0)}, own, not_measured=[why])
    assert held.verdict is N and why in held.why
    lost = rules.c15_uniform_injection({"map": around(-0.5)}, own, not_measured=[why])
    assert lost.verdict is R
    assert rules.c15_uniform_injection({}, {}).verdict is N


def test_intervals_below_the_bonferroni_share_decide_nothing():
    """Two kinds need 97.5 % intervals each; 95 % ones are too narrow to decide."""
    diffs = {"vector": around(0.0), "map": around(-0.5)}
    own = {"vector": around(0.5), "map": around(0.5)}
    assert rules.c15_uniform_injection(diffs, own).verdict is N
    wide = {k: around(e.value, level=0.975) for k, e in diffs.items()}
    assert (
        rules.c15_uniform_injection(wide, {k: around(0.5, level=0.975) for k in own}).verdict is R
    )


# --- normalised adherence -------------------------------------------------------------------


def _pairs(rng, n=96, seeds=2, noise=None) -> dict:
    """Vector rows: requested (n, 2); each mechanism measured = requested + noise, per seed."""
    requested = rng.normal(size=(n, 2))
    noise = noise or {UNIFORM: 0.5, **dict.fromkeys(RIVALS, 0.5)}
    samples = {
        m: [(requested + rng.normal(scale=s, size=(n, 2))).tolist() for _ in range(seeds)]
        for m, s in noise.items()
    }
    return {"requested": requested.tolist(), "real": requested.tolist(), "samples": samples}


def _scores(rng, n=96, seeds=2, hit=None) -> dict:
    """Rows of hits (R-precision-like): each mechanism hits its request with its own rate, the
    rolled request with rate 0.1, the real images always."""
    hit = hit or {UNIFORM: 0.7, **dict.fromkeys(RIVALS, 0.7)}
    draw = {
        m: [(rng.random(n) < p).astype(float).tolist() for _ in range(seeds)]
        for m, p in hit.items()
    }
    chance = {m: [(rng.random(n) < 0.1).astype(float).tolist() for _ in range(seeds)] for m in hit}
    return {"real": [1.0] * n, "samples": draw, "chance": chance}


def test_normalised_adherence_is_one_at_the_ceiling_and_zero_at_chance():
    rng = np.random.default_rng(0)
    rows = _pairs(rng, noise={UNIFORM: 0.0, "ignores": 1e6})
    scores = normalised_scores(rows, resamples=50)
    assert np.allclose(scores[UNIFORM], 1.0)  # measured exactly as requested, every replicate
    assert abs(scores["ignores"][0]) < 0.3  # noise only: as close as the rolled requests
    hits = {"real": [1.0] * 4, "samples": {"a": [[1.0, 1, 0, 0]]}, "chance": {"a": [[0.0] * 4]}}
    assert normalised_scores(hits, resamples=10)["a"][0] == pytest.approx(0.5)
    raw = raw_scores(hits)["a"]
    assert raw == {"samples": 0.5, "chance": 0.0, "ceiling": 1.0}


def test_pearson_leaves_out_unmeasurable_rows():
    x, y = np.array([1.0, 2.0, 3.0, np.nan, 5.0]), np.array([2.0, 4.0, 6.0, 1.0, np.nan])
    assert pearson(x, y) == pytest.approx(1.0)
    assert np.isnan(pearson(np.array([1.0, np.nan]), np.array([1.0, 2.0])))


def test_rows_stored_as_json_with_nulls_decide_like_the_arrays():
    rng = np.random.default_rng(1)
    rows = _pairs(rng)
    rows["samples"][UNIFORM][0][3] = [None, None]  # a blank sample: nothing to measure
    scores = normalised_scores(json.loads(json.dumps(rows)), resamples=20)
    assert np.isfinite(scores[UNIFORM]).all()


# --- the decider and recheck ----------------------------------------------------------------


def _evidence(rng, *, vector=0.5, hit=0.8, text=False, n=300) -> dict:
    """Rows of every kind: the uniform model's vector noise and map hit rate given, the rivals'
    0.5 and 0.7; text (if measured) hits at 0.8 against 0.7."""
    vector_noise = {UNIFORM: vector, **dict.fromkeys(RIVALS, 0.5)}
    kinds = {
        "vector": {"condition": "attributes", **_pairs(rng, n, noise=vector_noise)},
        "map": {
            "condition": "skeleton",
            **_scores(rng, n, hit={UNIFORM: hit, **dict.fromkeys(RIVALS, 0.7)}),
        },
    }
    if text:
        text_hits = {UNIFORM: 0.8, **dict.fromkeys(RIVALS, 0.7)}
        kinds["text"] = {"condition": "text", **_scores(rng, n, hit=text_hits)}
    return {"kinds": kinds, "not_measured": [] if text else [injection.NO_TEXT_JUDGE]}


def test_the_decider_needs_every_kind_and_sees_a_clear_loss():
    rng = np.random.default_rng(2)
    estimates, decision = decide_c15(_evidence(rng, text=True))
    assert decision.verdict is S, decision.why
    assert {e.level for e in estimates} == {1 - 0.05 / 3}  # Bonferroni over three kinds
    assert decide_c15(_evidence(rng))[1].verdict is N  # text not measured
    assert decide_c15(_evidence(rng, hit=0.3, text=True))[1].verdict is R  # maps: 0.3 vs 0.7
    assert decide_c15(_evidence(rng, vector=3.0, text=True))[1].verdict is R  # noisy vectors


def test_recheck_rederives_the_verdict_from_the_stored_rows(tmp_path):
    evidence = _evidence(np.random.default_rng(3), n=64)
    result = ENTRIES["C15"].result(evidence, n_seeds=2, n_samples=64)
    stored = result.to_dict()
    (tmp_path / "results.json").write_text(json.dumps({"claims": [stored]}))
    [row] = recheck(tmp_path)
    assert row.claim_id == "C15" and row.agrees and row.recomputed == stored["verdict"]


# --- the experiment and its instrument ------------------------------------------------------


N_TEST = 128  # R-precision ranks each caption among 99 others


def _strokes(n: int = N_TEST, side: int = 16) -> tuple[ImageDataset, dict[str, ConditionSpec]]:
    """Digit-like strokes of random thickness and slant, their conditions measured, and a
    caption per stroke (placeholder token ids: the stand-in generator reads none)."""
    rng = np.random.default_rng(0)
    widths, slants = rng.uniform(1.0, 4.0, n), rng.uniform(-0.6, 0.6, n)
    images = np.stack([stroke(side, side, w, s) for w, s in zip(widths, slants, strict=True)])
    data = ImageDataset(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.arange(n) % 10,
        10,
        [str(i) for i in range(10)],
        "strokes",
        conds={"text": torch.zeros(n, 4, dtype=torch.int64)},
    )
    data, specs = attach_conditions(data, ["attributes", "skeleton"])
    text = ConditionSpec("text", ConditionKind.TOKENS, 4)
    return data, {spec.name: spec for spec in (*specs, text)}


class Replay:
    """A stand-in generator that draws the given images, whatever it is asked for."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.net = images, torch.nn.Linear(1, 1)

    def sample(self, labels, spec, generator, conds=None) -> torch.Tensor:
        return to_model_range(self.images[: len(labels)])


class Brightness:
    """A stand-in text matcher: caption i describes the mean brightness of test image i."""

    def __init__(self, images: torch.Tensor) -> None:
        self.level = images.double().mean(dim=(1, 2, 3)).numpy()

    def scores(self, images, captions, requests, others) -> np.ndarray:
        level = images.double().mean(dim=(1, 2, 3)).numpy()[:, None]
        return -np.abs(level - self.level[np.concatenate([requests[:, None], others], axis=1)])


@pytest.mark.parametrize(("shift", "expected"), [(0, 1.0), (7, 0.0)])
def test_a_generator_drawing_the_requested_digits_scores_the_ceiling(shift, expected):
    """Drawing each requested test digit scores 1 on every kind; drawing another's, ≈ 0."""
    test, specs = _strokes()
    text = TextReference(tuple(f"stroke {i}" for i in range(N_TEST)), Brightness(test.images))
    family = Replay(test.images.roll(shift, dims=0))
    for name, fields in (("attributes", ("thickness", "slant")), ("skeleton", ()), ("text", ())):
        rows = ceiling_rows(specs[name], test, N_TEST, fields, text)
        rows = {k: v.tolist() for k, v in rows.items()}
        drawn = sample_rows(
            family, specs[name], test, SampleSpec(), n=N_TEST, fields=fields, seed=0,
            batch_size=N_TEST, null_class=10, text=text,
        )  # fmt: skip
        rows |= {part: {"m": [values.tolist()]} for part, values in drawn.items()}
        score = normalised_scores(rows, resamples=20)["m"][0]
        assert score == pytest.approx(expected, abs=1e-6 if shift == 0 else 0.25), name


def test_captions_without_a_text_matcher_are_refused_before_sampling():
    test, specs = _strokes()
    with pytest.raises(ConfigError, match="text matcher"):
        sample_rows(
            Replay(test.images), specs["text"], test, SampleSpec(), n=4, seed=0, batch_size=4,
            null_class=10,
        )  # fmt: skip


def test_not_run_on_a_dataset_without_digit_conditions():
    colour = SimpleNamespace(images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    ctx = SimpleNamespace(
        train_data=colour,
        test_data=SimpleNamespace(num_classes=10),
        compare=SimpleNamespace(dataset="openmoji"),
        claims=None,
    )
    (result,) = injection.injection_claim(ctx)
    assert result.verdict is Verdict.NOT_RUN and "MNIST" in result.why
    assert result.claim is CLAIMS["C15"]

    def uncaptioned(family, **changes):
        raise ConfigError("condition text needs captions: use mnist or openmoji")

    grey = SimpleNamespace(images=torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    ctx.train_data, ctx.compare.dataset, ctx.config_for = grey, "fashion", uncaptioned
    (result,) = injection.injection_claim(ctx)
    assert result.verdict is Verdict.NOT_RUN and "captions" in result.why
