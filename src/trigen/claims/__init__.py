"""The claims ledger: each claim of the classic comparison table, an experiment that tests it,
and a verdict computed from what the experiment measured (never written by hand).

``ledger`` holds the claims and the typed results, ``stats`` the intervals, ``rules`` the
functions that turn intervals into verdicts; the experiments live beside them, one module per
kind of measurement (``scaling``, ``quality``, ``training``, ``pretraining``).
"""

from trigen.claims.ledger import CLAIMS, Claim, ClaimResult, Estimate, Verdict

__all__ = ["CLAIMS", "Claim", "ClaimResult", "Estimate", "Verdict"]
