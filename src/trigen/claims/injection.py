"""Claim C15: DiT's uniform condition injection (every condition a token in one self-attention)
against DiT's specialised injections, the U-Net's and the AR prefix, on every kind of condition.

Each mechanism (:data:`trigen.measure.variants.INJECTIONS`) trains once per seed on MNIST with
the class, the attribute vector, the skeleton map and the captions together, at equal budget:
training FLOPs per run (wall-clock minutes where the settings give none). Each condition alone
is then asked for with the conditions of the first test images
(:mod:`trigen.measure.adherence_rows`), and every kind scored relative to the real-data ceiling
(:mod:`trigen.claims.normalised`).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext, trained_record
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult, Estimate
from trigen.claims.normalised import estimate, normalised_scores, raw_scores
from trigen.claims.seeded import SEEDS, PerSeed, seeds_of
from trigen.claims.settings import budget_text, claim_budget
from trigen.conditions import ConditionKind, ConditionSpec
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.errors import ConfigError, DataError
from trigen.measure import stats
from trigen.measure.adherence_rows import ceiling_rows, sample_rows
from trigen.measure.samples import sample_spec
from trigen.measure.text_adherence import TextReference
from trigen.measure.variants import injection_configs
from trigen.runs import Loaded

UNIFORM = "dit_uniform"  # the mechanism the claim is about; the others are its rivals
CONDITIONS = ("attributes", "skeleton", "text")  # every model trains on all of them at once
MEASURED = {"vector": "attributes", "map": "skeleton", "text": "text"}  # kind → its condition
VECTOR_FIELDS = ("thickness", "slant")  # chosen before measuring: the attributes captions name
NO_TEXT_JUDGE = "text: this comparison has no text matcher to judge captions"


def injection_claim(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C15: per kind of condition, normalised adherence of each mechanism's samples, each
    mechanism trained once per seed on every condition together."""
    cs = ctx.claims
    if (reason := _unmeasurable(ctx)) is not None:
        return (C15.not_run(reason),)
    text = ctx.text_reference() if ctx.text_reference is not None else None
    measured = {k: c for k, c in MEASURED.items() if text is not None or k != "text"}
    kinds: dict[str, dict[str, Any]] = {}
    tests: dict[tuple[ConditionSpec, ...], ImageDataset] = {}
    trained: dict[str, list[dict[str, Any]]] = {}  # mechanism → per seed: what its run got
    encoders: set[str] = set()  # the text encoder every run used (one: the comparison's)
    budget = claim_budget(cs.injection_flops, cs.injection_minutes)
    for seed in cs.injection_seeds:
        recipe = partial(ctx.config_for, conditions=CONDITIONS, seed=seed, **budget)
        for name, cfg in injection_configs(recipe):
            ctx.log(f"  injection: {name}, seed {seed} ({budget_text(budget)})")
            loaded, summary = ctx.train(cfg, ctx.run_dir("injection", name, seed))
            encoders.add(cfg.text_encoder)
            trained.setdefault(name, []).append(trained_record(summary))
            specs = loaded.data.conditions
            if specs not in tests:  # every run shares the training split's normalisation
                tests[specs] = _test_split(ctx, cfg, specs, text)
            for kind, condition in measured.items():
                rows = kinds.setdefault(kind, {"condition": condition})
                _measure(ctx, name, loaded, tests[specs], seed, rows, text)
    not_measured = [] if "text" in measured else [NO_TEXT_JUDGE]
    evidence = {"kinds": kinds, "not_measured": not_measured, SEEDS: list(cs.injection_seeds)}
    details = {
        "budget_per_run": budget,
        "trained": trained,
        "text_encoder": ", ".join(sorted(encoders)),
        "conditions": list(CONDITIONS),
        "vector_fields": list(VECTOR_FIELDS),
        "margin": rules.SAME_ADHERENCE,
        "requests": "each condition alone, the others and the class label null",
        "interval": "bootstrap over requests, pooled over seeds, paired across mechanisms",
        "raw": {kind: raw_scores(rows) for kind, rows in kinds.items()},
    }
    if text is not None:  # the judge's own R-precision on real test images
        details["text_matcher_r_precision"] = text.matcher.info.get("test_r_precision")
    n = cs.injection_samples
    return (C15.result(evidence, n_seeds=len(cs.injection_seeds), n_samples=n, details=details),)


def _unmeasurable(ctx: ClaimContext) -> str | None:
    """Why the conditions cannot be measured on the comparison's dataset, or None."""
    if ctx.train_data.images.shape[1] != 1 or ctx.test_data.num_classes == 0:
        return f"the conditions are measured on MNIST digits, not on {ctx.compare.dataset}"
    try:
        ctx.config_for(FamilyName.DIT, conditions=CONDITIONS)
    except ConfigError as err:
        return f"the conditions are measured on MNIST digits: {err}"
    return None


def _test_split(
    ctx: ClaimContext,
    cfg: TrainConfig,
    specs: tuple[ConditionSpec, ...],
    text: TextReference | None,
) -> ImageDataset:
    """The test split with the run's conditions attached under its normalisation, its captions
    worded with the comparison's seed (as the text judge's are) and tokenized for the run."""
    from trigen.conditions_data import default_cache_dir, load_conditioned

    worded = dataclasses.replace(cfg, seed=ctx.compare.seed)
    test = load_conditioned(worded, "test", reference=specs, cache_dir=default_cache_dir())
    if text is not None and tuple(test.captions) != tuple(text.captions):
        raise DataError("the test captions differ from those the text matcher judges by")
    return test.dataset


def _measure(
    ctx: ClaimContext,
    name: str,
    loaded: Loaded,
    test: ImageDataset,
    seed: int,
    rows: dict[str, Any],
    text: TextReference | None,
) -> None:
    """Add the rows of mechanism ``name`` (trained from ``seed``) for the condition of ``rows``
    (JSON-native): ``samples`` (and ``chance`` but for a vector) per mechanism, per seed."""
    cs = ctx.claims
    spec = next(s for s in loaded.data.conditions if s.name == rows["condition"])
    fields = VECTOR_FIELDS if spec.kind is ConditionKind.VECTOR else ()
    if "real" not in rows:
        rows |= _json(ceiling_rows(spec, test, cs.injection_samples, fields, text))
    measured = sample_rows(
        loaded.family,
        spec,
        test,
        sample_spec(FamilyName(loaded.config.family), ctx.compare),
        n=cs.injection_samples,
        fields=fields,
        seed=seed,
        batch_size=ctx.compare.sample_batch_size,
        null_class=test.num_classes,
        text=text,
    )
    for part, values in _json(measured).items():
        rows.setdefault(part, {}).setdefault(name, []).append(values)


def _json(rows: dict[str, np.ndarray]) -> dict[str, list]:
    """Rows as JSON lists, None where a value could not be measured (NaN)."""
    return {part: np.where(np.isfinite(v), v, None).tolist() for part, v in rows.items()}


def decide_c15(ev: Evidence) -> Decided:
    """Per measured kind: each mechanism's normalised adherence, and uniform − the best rival
    (the best chosen inside each replicate), at a Bonferroni share of 95 % over the kinds."""
    kinds: dict[str, Any] = ev["kinds"]
    level = stats.bonferroni(len(kinds))
    differences: dict[str, Estimate] = {}
    uniform: dict[str, Estimate] = {}
    shown: list[Estimate] = []
    for kind, rows in kinds.items():
        scores = normalised_scores(rows)
        n = sum(len(seed) for seed in rows["samples"][UNIFORM])
        rivals = np.stack([s for m, s in scores.items() if m != UNIFORM])
        best = np.max(rivals, axis=0)  # NaN when a rival has no score: no interval then
        name = f"{kind} ({rows['condition']}): uniform − best other, normalised adherence"
        differences[kind] = estimate(name, scores[UNIFORM] - best, n, level)
        for m, s in scores.items():
            e = estimate(f"{kind}: {m} normalised adherence", s, n, level)
            shown.append(e)
            if m == UNIFORM:
                uniform[kind] = e
    decision = rules.c15_uniform_injection(differences, uniform, not_measured=ev["not_measured"])
    return (*differences.values(), *shown), decision


def split_c15(ev: Evidence) -> list[Evidence]:
    """One evidence per training seed: each mechanism's rows of that seed, the requests, the
    real images' rows and the rolled requests as they are (every seed shares them)."""
    kinds = ev["kinds"]
    if not kinds:
        return [ev]
    first = next(iter(kinds.values()))["samples"]
    count = len(next(iter(first.values())))
    seeds = seeds_of(ev, count)

    def one_seed(rows: dict[str, Any], i: int) -> dict[str, Any]:
        seeded = {
            part: {m: [per_seed[i]] for m, per_seed in rows[part].items()}
            for part in ("samples", "chance")
            if part in rows
        }
        return {**rows, **seeded}

    return [
        {**ev, "kinds": {k: one_seed(rows, i) for k, rows in kinds.items()}, SEEDS: [seeds[i]]}
        for i in range(count)
    ]


EXPERIMENT = Experiment(
    "condition injection",
    injection_claim,
    ("injection_seeds", "injection_flops", "injection_minutes", "injection_samples"),
)
C15 = ClaimEntry(
    "C15",
    EXPERIMENT,
    rules.c15_uniform_injection,
    decide_c15,
    PerSeed(split_c15, decide_c15),  # one seed: the same bootstrap over its requests
)
ENTRIES = (C15,)
