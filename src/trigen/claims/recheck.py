"""Re-derive every verdict of a compare run from the evidence its ``results.json`` stores.

A claim's verdict is a pure function of its evidence (each claim's decider, found from its key
in :mod:`trigen.claims.registry`); this module reads the evidence back and decides again, so a
reader (or CI) can see that the published verdicts follow from the published numbers and
nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trigen.claims.registry import ENTRIES, decide
from trigen.errors import DataError

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Recheck:
    """One claim: the verdict the file states and the one its evidence gives (None: no
    evidence to decide on — a claim not run, or a file written before evidence was stored)."""

    claim_id: str
    stored: str
    recomputed: str | None
    why: str

    @property
    def agrees(self) -> bool:
        """Re-derived to the stored verdict, or a claim that did not run (nothing to derive); a
        verdict without evidence cannot be re-derived and does not agree."""
        if self.recomputed is None:
            return self.stored == "not_run"
        return self.recomputed == self.stored


def recheck(run_dir: Path) -> list[Recheck]:
    """Every claim of ``run_dir/results.json``, re-decided from its stored evidence."""
    path = Path(run_dir) / RESULTS_FILE
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path} does not exist: is {run_dir} a compare run?") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not readable JSON ({err})") from None
    claims = results.get("claims") if isinstance(results, dict) else None
    if not isinstance(claims, list):
        raise DataError(f"{path} holds no claims: was the run made with --claims?")
    out = []
    for c in claims:
        cid, stored = str(c.get("id")), str(c.get("verdict"))
        evidence = (c.get("details") or {}).get("evidence")
        if evidence is None or cid not in ENTRIES:
            why = "not run" if stored == "not_run" else "no evidence stored"
            out.append(Recheck(cid, stored, None, why))
            continue
        try:
            _, decision = decide(cid, evidence)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            out.append(Recheck(cid, stored, "error", f"evidence unreadable: {err!r}"))
            continue
        out.append(Recheck(cid, stored, decision.verdict.value, decision.why))
    return out
