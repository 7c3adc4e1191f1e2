"""The measuring instruments shared by ``trigen compare`` and the claims: sampling a family for
evaluation, quality evaluators, cost probes and sweeps, the configs of variant sweeps, and
the intervals reported beside measured values.

A layer below :mod:`trigen.compare` and :mod:`trigen.claims`: it imports neither.
"""
