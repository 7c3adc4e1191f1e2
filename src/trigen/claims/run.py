"""Run the claims a comparison asks for, in ledger order; the rest are marked not_run."""

from __future__ import annotations

from collections.abc import Callable, Collection

from trigen.claims.context import ClaimContext
from trigen.claims.ledger import CLAIMS, ClaimResult
from trigen.claims.registry import experiments
from trigen.rng import seed_globals

DECIDED_EARLIER = "decided by an earlier, interrupted run of this comparison"


def run_claims(
    ctx: ClaimContext,
    done: Callable[[ClaimResult], None] = lambda r: None,
    decided: Collection[str] = (),
):
    """Every claim of the ledger, in order: measured where ``ctx.claims.run`` asks for it.

    An experiment deciding several claims runs once when any of them is asked for, from global
    RNG state seeded by the comparison's seed and its claims (whatever ran before it). ``done``
    is called after each claim (the caller writes results.json as they come). An experiment
    whose asked-for claims are all ``decided`` (by an earlier run that was interrupted) is not
    run again: its claims come back as placeholders for the caller to fill.
    """
    cs = ctx.claims
    results: dict[str, ClaimResult] = {}
    for experiment, keys in experiments():
        asked = [key for key in keys if cs.runs(key)]
        if not asked:
            continue
        if all(key in decided for key in asked):
            results.update({k: ClaimResult.not_run(CLAIMS[k], DECIDED_EARLIER) for k in asked})
            continue
        ctx.log(f"claim{'s' if len(keys) > 1 else ''} {'/'.join(keys)}: {experiment.title}")
        seed_globals(ctx.compare.seed, "claims " + "/".join(keys))
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
