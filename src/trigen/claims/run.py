"""Run the claims a comparison asks for, in ledger order; the rest are marked not_run."""

from __future__ import annotations

from collections.abc import Callable

from trigen.claims import costs, quality, training
from trigen.claims.context import ClaimContext
from trigen.claims.decide import claim_result
from trigen.claims.ledger import CLAIMS, ClaimResult, Series


def _pretraining_claim(ctx: ClaimContext, claim_id: str) -> ClaimResult:
    """C4 (ViT → DiT) or C12 (GPT-2 layout → AR): paired scratch − init over seeds."""
    from trigen.claims.gpt2_init import gpt2_init_experiment
    from trigen.claims.vit_init import vit_init_experiment

    cs = ctx.claims
    common = {
        "seeds": cs.seeds,
        "batch_size": cs.pretraining_batch,
        "device": ctx.device,
        "log": ctx.log,
    }
    if claim_id == "C4":
        exp = vit_init_experiment(
            subset_sizes=cs.vit_subsets,
            pretrain_steps=cs.vit_pretrain_steps,
            finetune_steps=cs.vit_finetune_steps,
            **common,
        )
        unit = "held-out loss"
    else:
        exp = gpt2_init_experiment(
            pretrain_steps=cs.gpt2_pretrain_steps,
            finetune_steps=cs.gpt2_finetune_steps,
            **common,
        )
        unit = "bits/dim"
    pairs = sorted(exp.pairs, key=lambda p: p.size)
    series = []
    for arm in {r.arm for r in exp.runs}:
        runs = [r for r in exp.runs if r.arm == arm and r.size == pairs[0].size]
        steps = [s for s, _ in runs[0].curve]
        mean = [sum(r.curve[i][1] for r in runs) / len(runs) for i in range(len(steps))]
        label = f"{arm.value} ({pairs[0].size} images, mean of {len(runs)} seeds)"
        ylabel = f"held-out {exp.metric}"
        series.append(
            Series(
                label, steps, mean, "fine-tuning steps", ylabel, logx=False, logy=False
            ).to_dict()
        )
    evidence = {"metric": exp.metric, "unit": unit, "pairs": [p.to_dict() for p in pairs]}
    return claim_result(
        claim_id,
        evidence,
        n_seeds=len(cs.seeds),
        n_samples=pairs[0].size,
        details={**exp.to_dict(), "series": series},
    )


def run_claims(ctx: ClaimContext, done: Callable[[ClaimResult], None] = lambda r: None):
    """Every claim of the ledger, in order: measured where ``ctx.claims.run`` asks for it.

    ``done`` is called after each claim (the caller writes results.json as they come).
    """
    cs = ctx.claims
    results: dict[str, ClaimResult] = {}

    def record(*found: ClaimResult) -> None:
        for r in found:
            results[r.claim.id] = r
            done(r)

    def wanted(*ids: str) -> bool:
        return any(cs.runs(i) for i in ids)

    if wanted("C6"):
        ctx.log("claim C6: memory and latency vs resolution")
        record(costs.memory_claim(ctx))
    if wanted("C7"):
        ctx.log("claim C7: serial AR vs parallel diffusion")
        record(costs.serial_claim(ctx))
    if wanted("C9"):
        ctx.log("claim C9: exact likelihood vs ELBO")
        record(quality.likelihood_claim(ctx))
    if wanted("C10", "C13"):
        ctx.log("claims C10/C13: quality vs NFE per sampler")
        points = quality.nfe_sweep(ctx)
        record(quality.steps_claim(ctx, points), quality.speed_claim(ctx, points))
    if wanted("C1", "C2"):
        ctx.log("claims C1/C2: long-range consistency and fine detail on `mirror`")
        record(*training.mirror_claims(ctx))
    if wanted("C3"):
        ctx.log("claim C3: conditioning variants")
        record(training.conditioning_claim(ctx))
    if wanted("C5"):
        ctx.log("claim C5: DiT scaling")
        record(training.scaling_claim(ctx))
    if wanted("C8", "C11"):
        ctx.log("claims C8/C11: quality vs resolution")
        record(*training.resolution_claims(ctx))
    for claim_id in ("C4", "C12"):
        if wanted(claim_id):
            ctx.log(f"claim {claim_id}: pretrained initialisation")
            record(_pretraining_claim(ctx, claim_id))
    if wanted("C14"):
        from trigen.claims.maskgit import parallel_decoding_claim

        ctx.log("claim C14: masked parallel decoding vs raster AR")
        record(parallel_decoding_claim(ctx))
    ordered = []
    for claim_id, claim in CLAIMS.items():
        if claim_id in results and cs.runs(claim_id):
            ordered.append(results[claim_id])
        else:
            ordered.append(ClaimResult.not_run(claim, "not in this preset"))
    return ordered
