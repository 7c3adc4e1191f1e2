"""Run the claims a comparison asks for, in ledger order; the rest are marked not_run."""

from __future__ import annotations

from collections.abc import Callable

from trigen.claims.context import ClaimContext
from trigen.claims.ledger import CLAIMS, ClaimResult
from trigen.claims.registry import experiments


def run_claims(ctx: ClaimContext, done: Callable[[ClaimResult], None] = lambda r: None):
    """Every claim of the ledger, in order: measured where ``ctx.claims.run`` asks for it.

    An experiment deciding several claims runs once when any of them is asked for. ``done`` is
    called after each claim (the caller writes results.json as they come).
    """
    cs = ctx.claims
    results: dict[str, ClaimResult] = {}
    for experiment, keys in experiments():
        if not any(cs.runs(key) for key in keys):
            continue
        ctx.log(f"claim{'s' if len(keys) > 1 else ''} {'/'.join(keys)}: {experiment.title}")
        for result in experiment.run(ctx):
            results[result.claim.id] = result
            done(result)
    ordered = []
    for claim_id, claim in CLAIMS.items():
        if claim_id in results and cs.runs(claim_id):
            ordered.append(results[claim_id])
        else:
            ordered.append(ClaimResult.not_run(claim, "not in this preset"))
    return ordered
