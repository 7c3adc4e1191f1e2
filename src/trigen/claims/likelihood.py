"""Claim C9: AR maximises an exact likelihood. Exact bits/dim of the AR model against the ELBO of
each diffusion family on the same test images, paired per image."""

from __future__ import annotations

import numpy as np

from trigen.claims import rules
from trigen.claims.context import ClaimContext
from trigen.claims.entry import ClaimEntry, Decided, Evidence, Experiment
from trigen.claims.ledger import ClaimResult
from trigen.claims.seeded import PerSeed, over_training_seeds, runs_of
from trigen.config import FamilyName
from trigen.eval.likelihood import bits_per_dim, evaluate_nll
from trigen.measure import stats


def likelihood_claim(ctx: ClaimContext) -> tuple[ClaimResult, ...]:
    """C9 on the families of every training seed: decided per seed and pooled."""
    return over_training_seeds(ctx, _likelihood_run, (C9,))


def _likelihood_run(ctx: ClaimContext) -> tuple[ClaimResult]:
    """C9: exact AR bits/dim vs each diffusion family's ELBO on the same test images."""
    ar = ctx.runs.get(FamilyName.AR)
    diffusion = {  # a flow-matching model has no ELBO to compare
        name: loaded
        for name, loaded in ctx.diffusion_runs().items()
        if loaded.family.likelihood.exists
    }
    if ar is None or not diffusion:
        return (C9.not_run("needs the AR family and a diffusion family trained with an ELBO"),)
    n = ctx.compare.nll_images
    per_image = {}
    for name, loaded in {FamilyName.AR: ar, **diffusion}.items():
        # the ELBO's Monte-Carlo timesteps per image (the exact NLL has none)
        family = loaded.family.with_nll_timesteps(ctx.compare.elbo_timesteps)
        result = evaluate_nll(
            family, ctx.test_data, max_images=n, generator=ctx.generator(ctx.compare.seed)
        )
        per_image[name] = bits_per_dim(np.asarray(result.per_image_nats), family.image_shape)
    evidence = {"bits_per_dim": {name.value: per_image[name] for name in per_image}}
    return (C9.result(evidence, n_seeds=1, n_samples=len(per_image[FamilyName.AR])),)


def decide_c9(ev: Evidence) -> Decided:
    """AR − each diffusion family's ELBO in bits/dim on the same images (paired, Bonferroni)."""
    bpd = ev["bits_per_dim"]
    diffusion = [f for f in bpd if f != "ar"]
    level = stats.bonferroni(len(diffusion))
    diffs = [
        stats.paired_difference(
            f"AR − {f} bits/dim", bpd["ar"], bpd[f], unit="bits/dim", level=level
        )
        for f in diffusion
    ]
    means = [stats.bootstrap("AR bits/dim (exact)", bpd["ar"], unit="bits/dim")] + [
        stats.bootstrap(f"{f} bits/dim (ELBO, an upper bound)", bpd[f], unit="bits/dim")
        for f in diffusion
    ]
    return (*diffs, *means), rules.c9_likelihood(diffs)


def pool_c9(ev: Evidence) -> Decided:
    """AR − each diffusion family's ELBO, each seed's mean over the same images, t over the
    training seeds (Bonferroni over the families)."""
    runs = [r["bits_per_dim"] for r in runs_of(ev)]
    diffusion = [f for f in runs[0] if f != "ar"]
    level = stats.bonferroni(len(diffusion))
    diffs = [
        stats.seeds_interval(
            f"AR − {f} bits/dim",
            [float(np.mean(r["ar"]) - np.mean(r[f])) for r in runs],
            unit="bits/dim",
            level=level,
        )
        for f in diffusion
    ]
    means = [
        stats.seeds_interval(f"{f} bits/dim", [float(np.mean(r[f])) for r in runs], unit="bits/dim")
        for f in ("ar", *diffusion)
    ]
    return (*diffs, *means), rules.c9_likelihood(diffs)


EXPERIMENT = Experiment("exact likelihood vs ELBO", likelihood_claim, ())
C9 = ClaimEntry(
    "C9", EXPERIMENT, rules.c9_likelihood, decide_c9, PerSeed(runs_of, decide_c9, pool_c9)
)
ENTRIES = (C9,)
