"""What an experiment module declares about the claims it decides.

An :class:`Experiment` is one set of measurements (a sweep, a grid of training runs) and the
:class:`ClaimSettings` fields it reads; a :class:`ClaimEntry` is one claim decided from it: its
ledger key (the text is ``ledger.CLAIMS[key]``), the rule of ``rules`` that turns its estimates
into a verdict, and the decider, a pure function of the evidence the experiment stores. The
experiments call :meth:`ClaimEntry.result` to decide, and ``trigen recheck`` calls the same
decider on the evidence read back from ``results.json``: a verdict that the file cannot
reproduce is a bug. Evidence is plain JSON (lists of floats, dicts of them), stored under each
claim's ``details["evidence"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trigen.claims.context import ClaimContext
from trigen.claims.ledger import CLAIMS, Claim, ClaimResult
from trigen.claims.rules import Decision
from trigen.claims.seeded import Decided, Evidence, Judged, PerSeed, judge

__all__ = ["ClaimEntry", "Decided", "Evidence", "Experiment", "PerSeed", "plain"]


@dataclass(frozen=True)
class Experiment:
    """One experiment: what the log calls it, the function that runs it (one result per claim
    it decides, in ledger order), and the :class:`ClaimSettings` fields that function reads."""

    title: str
    run: Callable[[ClaimContext], Sequence[ClaimResult]]
    settings: tuple[str, ...]


@dataclass(frozen=True)
class ClaimEntry:
    """One claim of the ledger as its experiment module declares it."""

    key: str  # the ledger id, "C1", "C2", …
    experiment: Experiment
    rule: Callable[..., Decision]  # in ``rules``; the decider calls it on its estimates
    decide: Callable[[Evidence], Decided]
    # where the verdict depends on training: how it is decided on each training seed alone
    # (``claims.seeded``); None for a claim on untrained networks
    per_seed: PerSeed | None = None
    # the verdict rests on wall-clock timings of this host: a rerun of the same command may
    # measure other times and decide otherwise (``results.json`` lists its entry as volatile)
    timed: bool = False

    @property
    def claim(self) -> Claim:
        """The ledger's text of the claim, its experiment and its rule."""
        return CLAIMS[self.key]

    @property
    def settings(self) -> tuple[str, ...]:
        return self.experiment.settings

    def judge(self, evidence: Evidence) -> Judged:
        """The claim decided on ``evidence``: per training seed and pooled where it holds
        several seeds (``rules.across_seeds``), else once."""
        return judge(self.decide, self.per_seed, evidence)

    def result(
        self,
        evidence: Evidence,
        *,
        n_seeds: int,
        n_samples: int,
        details: dict[str, Any] | None = None,
        note: str = "",
    ) -> ClaimResult:
        """Decide the claim on its evidence (made JSON-native first) and record both."""
        evidence = plain(evidence)
        judged = self.judge(evidence)
        decision = judged.decision
        return ClaimResult(
            self.claim,
            decision.verdict,
            f"{decision.why}{f' ({note})' if note else ''}",
            judged.measured,
            n_seeds=n_seeds,
            n_samples=n_samples,
            details={**(details or {}), **judged.to_details(), "evidence": evidence},
        )

    def not_run(self, reason: str) -> ClaimResult:
        """The claim not tested, and why (a family or a classifier it needs is missing)."""
        return ClaimResult.not_run(self.claim, reason)


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python (arrays → lists, numpy scalars → floats), so a verdict
    decided at run time is decided on exactly what ``results.json`` stores."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value
