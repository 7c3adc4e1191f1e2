"""The claims ledger: each claim of the classic comparison table, an experiment that tests it,
and a verdict computed from what the experiment measured (never written by hand).

``ledger`` holds the claims' text and the typed results, ``stats`` the intervals, ``rules`` the
functions that turn intervals into verdicts, ``entry`` the record an experiment module declares
for each claim it decides (its rule, its decider over the stored evidence, the settings it
reads), ``registry`` those records in ledger order. The experiments live beside them, one module
each: ``mirror`` (C1, C2), ``conditioning`` (C3), ``vit_init`` (C4), ``dit_scaling`` (C5),
``memory`` (C6), ``serial`` (C7), ``resolution`` (C8, C11), ``likelihood`` (C9), ``steps`` (C10,
C13), ``gpt2_init`` (C12), ``maskgit`` (C14), ``injection`` (C15); ``pretraining`` and
``finetune`` hold what C4 and C12 share, ``normalised`` C15's adherence relative to the ceiling.
"""

from trigen.claims.ledger import CLAIMS, Claim, ClaimResult, Estimate, Verdict

__all__ = ["CLAIMS", "Claim", "ClaimResult", "Estimate", "Verdict"]
