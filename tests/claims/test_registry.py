"""The registry: every claim of the ledger declared once by its experiment module, in ledger
order, with its rule, decider, experiment and the settings that experiment reads."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from types import SimpleNamespace

import pytest

from trigen.claims import registry, rules
from trigen.claims.entry import ClaimEntry, Experiment
from trigen.claims.ledger import CLAIMS, ClaimResult, Verdict
from trigen.claims.run import DECIDED_EARLIER, run_claims
from trigen.claims.settings import ClaimSettings

SETTINGS = {f.name for f in dataclasses.fields(ClaimSettings)}


def test_every_claim_of_the_ledger_is_declared_once_in_ledger_order():
    declared = [e.key for m in registry.EXPERIMENT_MODULES for e in m.ENTRIES]
    assert sorted(declared) == sorted(CLAIMS) and len(declared) == len(set(declared))
    assert list(registry.ENTRIES) == list(CLAIMS)
    grouped = [keys for _, keys in registry.experiments()]  # each experiment once
    assert sorted(k for keys in grouped for k in keys) == sorted(CLAIMS)
    order = list(CLAIMS).index
    assert [keys[0] for keys in grouped] == sorted((keys[0] for keys in grouped), key=order)


def test_a_claim_declared_twice_or_not_at_all_is_refused():
    entries = list(registry.ENTRIES.values())
    with pytest.raises(ValueError, match="C3 is declared twice"):
        registry.in_ledger_order([*entries, registry.ENTRIES["C3"]])
    last = list(CLAIMS)[-1]
    with pytest.raises(ValueError, match=rf"decides claim\(s\) {last}"):
        registry.in_ledger_order(entries[:-1])


@pytest.mark.parametrize("key", list(CLAIMS))
def test_each_entry_has_its_text_rule_decider_experiment_and_settings(key):
    entry = registry.ENTRIES[key]
    assert entry.claim is CLAIMS[key]
    assert entry.rule is getattr(rules, entry.rule.__name__)
    assert entry.rule.__name__.startswith(f"{key.lower()}_")  # the rule named for its claim
    assert callable(entry.decide) and entry.decide.__name__ == f"decide_{key.lower()}"
    assert callable(entry.experiment.run) and entry.experiment.title
    # the decider sits beside the experiment whose evidence it reads
    assert entry.decide.__module__ == entry.experiment.run.__module__
    assert set(entry.settings) <= SETTINGS - {"run"}


def _settings_read(module) -> set[str]:
    """ClaimSettings fields read as ``cs.<field>`` or ``ctx.claims.<field>`` in ``module``."""
    read = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Attribute) or node.attr not in SETTINGS:
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == "cs") or (
            isinstance(owner, ast.Attribute) and owner.attr == "claims"
        ):
            read.add(node.attr)
    return read


def _claims_imports(module) -> list:
    """The ``trigen.claims`` modules ``module`` imports from (its shared helpers)."""
    tree = ast.parse(inspect.getsource(module))
    names = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trigen.claims.")
    }
    return [importlib.import_module(name) for name in sorted(names)]


@pytest.mark.parametrize("module", registry.EXPERIMENT_MODULES, ids=lambda m: m.__name__)
def test_an_experiment_declares_exactly_the_settings_it_reads(module):
    read = _settings_read(module).union(*(_settings_read(m) for m in _claims_imports(module)))
    for entry in module.ENTRIES:
        assert set(entry.settings) == read, entry.key


def test_every_claims_setting_is_read_by_an_experiment():
    declared = {s for entry in registry.ENTRIES.values() for s in entry.settings}
    assert declared == SETTINGS - {"run"}


def _stub_registry(calls: list[str]) -> dict[str, ClaimEntry]:
    """Each ledger claim decided by a stub experiment; C1/C2 and C10/C13 share one each."""

    def experiment(*keys: str) -> Experiment:
        def run(ctx) -> tuple[ClaimResult, ...]:
            calls.append("/".join(keys))
            return tuple(ClaimResult(CLAIMS[k], Verdict.SUPPORTED, "stub") for k in keys)

        return Experiment(f"stub {'/'.join(keys)}", run, ())

    shared = {"C1": experiment("C1", "C2"), "C10": experiment("C10", "C13")}
    shared["C2"], shared["C13"] = shared["C1"], shared["C10"]
    return {
        key: ClaimEntry(key, shared.get(key) or experiment(key), rules.side, lambda ev: None)
        for key in CLAIMS
    }


def test_run_claims_runs_each_asked_experiment_once_in_ledger_order(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(registry, "ENTRIES", _stub_registry(calls))
    done: list[str] = []
    ctx = SimpleNamespace(
        claims=ClaimSettings(run=("C13", "C5", "C2", "C10")),
        compare=SimpleNamespace(seed=0),
        log=lambda _: None,
    )
    results = run_claims(ctx, lambda r: done.append(r.claim.id))
    assert calls == ["C1/C2", "C5", "C10/C13"]  # C10 and C13 share one run
    assert done == ["C1", "C2", "C5", "C10", "C13"]  # every result of a run is reported
    assert [r.claim.id for r in results] == list(CLAIMS)
    supported = {r.claim.id for r in results if r.verdict is Verdict.SUPPORTED}
    assert supported == {"C2", "C5", "C10", "C13"}  # C1 ran beside C2 but was not asked for
    assert all(r.why == "not in this preset" for r in results if r.claim.id not in supported)
    # resumed: an experiment whose asked claims were all decided earlier is not run again; one
    # with a claim still open runs whole
    calls.clear()
    again = run_claims(ctx, lambda r: None, decided={"C2", "C5", "C10"})
    assert calls == ["C10/C13"]
    assert {r.claim.id for r in again if r.why == DECIDED_EARLIER} == {"C2", "C5"}
