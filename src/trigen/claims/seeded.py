"""Claims decided seed by seed: each training seed's runs alone, then every seed pooled.

A claim whose verdict depends on training declares a :class:`PerSeed`: how its evidence splits
into one piece per training seed, how one seed's piece is decided (intervals over that run's
samples: images, requests, rounds) and, where the entry's own decider reads one run only, how the
pieces are pooled (t over seeds). :func:`judge` decides every seed and the pool, and
``rules.across_seeds`` turns them into the claim's verdict: **unstable** when the seeds disagree.

Two kinds of claims use it:

- claims that train their own runs once per seed (C1, C2, C3, C8, C11, C15) store every seed's
  values in one evidence; their decider is the pooled one, ``split`` cuts one seed's values out;
- claims measured on trained families of one seed (C5, C9, C10, C13, C14) run once per training
  seed of the comparison (:func:`over_training_seeds`); their evidence becomes
  ``{"seeds": [...], "per_seed": [one run's evidence, ...]}``, decided seed by seed with the
  entry's own decider and pooled by ``pooled``.

Every piece is in the stored evidence, so ``trigen recheck`` re-derives the per-seed verdicts
and the pooled one from ``results.json`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trigen.claims import rules
from trigen.claims.ledger import ClaimResult, Estimate, Verdict
from trigen.claims.rules import Decision
from trigen.measure import stats

if TYPE_CHECKING:
    from trigen.claims.context import ClaimContext
    from trigen.claims.entry import ClaimEntry

Evidence = Mapping[str, Any]
Decided = tuple[tuple[Estimate, ...], Decision]
SEEDS = "seeds"  # the evidence key of the training seeds, in the order of its per-seed values
PER_SEED = "per_seed"  # the evidence key of one run's evidence per training seed


@dataclass(frozen=True)
class PerSeed:
    """How a claim is decided on each training seed alone, and pooled over them."""

    split: Callable[[Evidence], list[Evidence]]  # one evidence per training seed, in order
    decide_run: Callable[[Evidence], Decided]  # one seed's evidence → its decision
    pooled: Callable[[Evidence], Decided] | None = None  # None: the entry's own decider


@dataclass(frozen=True)
class Judged:
    """A claim's estimates and decision, with each seed's decision and the pooled one (none for
    a claim decided once)."""

    measured: tuple[Estimate, ...]
    decision: Decision
    per_seed: dict[int, Decision]
    pooled: Decision | None

    def to_details(self) -> dict[str, Any]:
        """The per-seed verdicts for ``details`` (empty for a claim decided once)."""
        if self.pooled is None:
            return {}
        return {
            "per_seed_verdicts": [
                {"seed": s, "verdict": d.verdict.value, "why": d.why}
                for s, d in self.per_seed.items()
            ],
            "pooled_verdict": {"verdict": self.pooled.verdict.value, "why": self.pooled.why},
        }


def seeds_of(evidence: Evidence, count: int) -> list[int]:
    """The training seeds the evidence names, else 0 … count − 1 (files without them)."""
    seeds = evidence.get(SEEDS)
    if isinstance(seeds, list) and len(seeds) == count:
        return [int(s) for s in seeds]
    return list(range(count))


def judge(decide: Callable[[Evidence], Decided], per_seed: PerSeed | None, ev: Evidence) -> Judged:
    """Decide ``ev``: once with ``decide`` when it holds fewer than two training seeds (or the
    claim does not depend on training), else per seed and pooled (``rules.across_seeds``); the
    estimates shown are the pooled ones."""
    pieces = per_seed.split(ev) if per_seed is not None else []
    if per_seed is None or len(pieces) < 2:
        measured, decision = decide(ev)
        return Judged(measured, decision, {}, None)
    measured, pooled = (per_seed.pooled or decide)(ev)
    seeds = seeds_of(ev, len(pieces))
    runs = {s: per_seed.decide_run(piece)[1] for s, piece in zip(seeds, pieces, strict=True)}
    return Judged(measured, rules.across_seeds(runs, pooled), runs, pooled)


# ------------------------------------------------------ claims run once per training seed


def runs_of(ev: Evidence) -> list[Evidence]:
    """``split`` of a claim measured once per training seed: its per-seed evidences (a single
    run's evidence, stored bare, is one)."""
    return list(ev[PER_SEED]) if PER_SEED in ev else [ev]


def over_training_seeds(
    ctx: ClaimContext,
    run: Callable[[ClaimContext], Sequence[ClaimResult]],
    entries: Sequence[ClaimEntry],
) -> tuple[ClaimResult, ...]:
    """``run`` (one result per entry of ``entries``, in order) on the families of each training
    seed of the comparison, then each claim decided per seed and pooled. With one seed, ``run``
    as it is (its evidence stored bare)."""
    seeds = ctx.training_seeds()
    if len(seeds) < 2:
        return tuple(run(ctx))
    by_seed = []
    for seed in seeds:
        ctx.log(f"  training seed {seed}")
        by_seed.append(tuple(run(ctx.for_seed(seed))))
    return tuple(
        _merged(entry, seeds, [results[i] for results in by_seed])
        for i, entry in enumerate(entries)
    )


def _merged(entry: ClaimEntry, seeds: Sequence[int], results: list[ClaimResult]) -> ClaimResult:
    """One claim's results of every seed as one result: the evidence of each seed, the first
    seed's details (its figure) and the others' beside them."""
    missing = next((r for r in results if r.verdict is Verdict.NOT_RUN), None)
    if missing is not None:
        return missing
    evidence = {SEEDS: list(seeds), PER_SEED: [r.details["evidence"] for r in results]}
    details = [{k: v for k, v in r.details.items() if k != "evidence"} for r in results]
    shown = {
        **details[0],
        "details_of_seed": seeds[0],  # the figure and points above are this seed's
        "other_seeds_details": [
            {"seed": s, **{k: v for k, v in d.items() if k != "series"}}
            for s, d in zip(seeds[1:], details[1:], strict=True)
        ],
    }
    n_samples = results[0].n_samples
    return entry.result(evidence, n_seeds=len(seeds), n_samples=n_samples, details=shown)


# ------------------------------------------------------ claims that loop over seeds themselves


def split_at(ev: Evidence, depths: Mapping[str, int]) -> list[Evidence]:
    """One evidence per training seed of a claim that stores every seed's values: under each key
    of ``depths`` the per-seed lists sit that many dict levels down (0: the value is the list);
    each piece keeps one seed's entry (as a list of one), its seed, and the other keys."""
    key, depth = next(iter(depths.items()))
    count = len(_first_list(ev[key], depth))
    seeds = seeds_of(ev, count)
    return [
        {
            **ev,
            **{k: _one_seed(ev[k], i, d) for k, d in depths.items()},
            SEEDS: [seeds[i]],
        }
        for i in range(count)
    ]


def _first_list(value: Any, depth: int) -> list:
    return value if depth == 0 else _first_list(next(iter(value.values())), depth - 1)


def _one_seed(value: Any, i: int, depth: int) -> Any:
    if depth == 0:
        return [value[i]]
    return {k: _one_seed(v, i, depth - 1) for k, v in value.items()}


def run_difference(
    name: str,
    a: Sequence[float | None],
    b: Sequence[float | None],
    *,
    unit: str = "",
    level: float = stats.LEVEL,
) -> Estimate:
    """Mean of a − b over one run's paired samples (same labels, noise or images), percentile
    bootstrap over the samples; pairs with a missing side (NaN, None) dropped; no interval
    with fewer than 2 pairs. An interval of one training run: it says nothing of the next seed."""
    x, y = (np.asarray([np.nan if v is None else v for v in s], np.float64) for s in (a, b))
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        mean = float(np.mean(x[keep] - y[keep])) if keep.any() else float("nan")
        return Estimate.undetermined(name, mean, f"{int(keep.sum())} paired samples", unit)
    return stats.paired_difference(name, x[keep], y[keep], unit=unit, level=level)
