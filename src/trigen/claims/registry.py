"""Every claim of the ledger, found from its key: the experiment modules declare the claims they
decide (``ENTRIES``), and this module puts them in ledger order.

``ENTRIES["C5"]`` holds C5's ledger text (``.claim``), its rule, its decider, its experiment and
the settings that experiment reads; ``trigen compare`` runs the experiments in this order and
``trigen recheck`` decides each claim again with the same deciders.
"""

from __future__ import annotations

from collections.abc import Iterable

from trigen.claims import (
    conditioning,
    dit_scaling,
    gpt2_init,
    injection,
    likelihood,
    maskgit,
    memory,
    mirror,
    resolution,
    serial,
    steps,
    vit_init,
)
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import CLAIMS

EXPERIMENT_MODULES = (
    mirror,
    conditioning,
    vit_init,
    dit_scaling,
    memory,
    serial,
    resolution,
    likelihood,
    steps,
    gpt2_init,
    maskgit,
    injection,
)


def in_ledger_order(entries: Iterable[ClaimEntry]) -> dict[str, ClaimEntry]:
    """``entries`` by key in the ledger's order; an error unless each claim has exactly one."""
    by_key: dict[str, ClaimEntry] = {}
    for entry in entries:
        if entry.key in by_key:
            raise ValueError(f"claim {entry.key} is declared twice")
        if entry.key not in CLAIMS:
            raise ValueError(f"claim {entry.key} is not in the ledger")
        by_key[entry.key] = entry
    missing = [key for key in CLAIMS if key not in by_key]
    if missing:
        raise ValueError(f"no experiment decides claim(s) {', '.join(missing)}")
    return {key: by_key[key] for key in CLAIMS}


ENTRIES: dict[str, ClaimEntry] = in_ledger_order(
    entry for module in EXPERIMENT_MODULES for entry in module.ENTRIES
)


def experiments() -> list[tuple[Experiment, tuple[str, ...]]]:
    """Each experiment once, with the keys of the claims it decides, in the ledger order of its
    first claim."""
    keys: dict[Experiment, list[str]] = {}
    for key, entry in ENTRIES.items():
        keys.setdefault(entry.experiment, []).append(key)
    return [(experiment, tuple(ks)) for experiment, ks in keys.items()]


def decide(key: str, evidence: Evidence) -> Decided:
    """The estimates and decision of claim ``key`` from its ``evidence`` (per training seed and
    pooled where the evidence holds several seeds)."""
    judged = ENTRIES[key].judge(evidence)
    return judged.measured, judged.decision
