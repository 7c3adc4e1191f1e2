"""`trigen recheck`: verdicts re-derived from the evidence stored in results.json."""

from __future__ import annotations

import json

import numpy as np

from trigen.claims.ledger import CLAIMS, ClaimResult
from trigen.claims.recheck import recheck
from trigen.claims.registry import ENTRIES
from trigen.cli import main


def _results(tmp_path, claims: list[dict]):
    (tmp_path / "results.json").write_text(json.dumps({"claims": claims}))
    return tmp_path


def _c9(shift: float) -> dict:
    rng = np.random.default_rng(0)
    ar = rng.normal(2.0, 0.3, 100)
    evidence = {"bits_per_dim": {"ar": ar, "unet": ar + shift, "dit": ar + shift + 0.1}}
    return ENTRIES["C9"].result(evidence, n_seeds=1, n_samples=100).to_dict()


def test_verdicts_follow_from_the_stored_evidence(tmp_path, capsys):
    claims = [_c9(0.5), ClaimResult.not_run(CLAIMS["C1"], "not in this preset").to_dict()]
    run = _results(tmp_path, claims)
    rows = recheck(run)
    assert [(r.claim_id, r.recomputed, r.agrees) for r in rows] == [
        ("C9", "supported", True),
        ("C1", None, True),
    ]
    assert main(["recheck", str(run)]) == 0
    assert "C9  stored supported" in capsys.readouterr().out


def test_a_verdict_the_evidence_does_not_give_fails(tmp_path, capsys):
    tampered = _c9(0.5)
    tampered["verdict"] = "refuted"
    assert main(["recheck", str(_results(tmp_path, [tampered]))]) == 1
    captured = capsys.readouterr()
    assert "DIFFERS" in captured.out and "C9" in captured.err


def test_a_verdict_without_evidence_cannot_be_rederived(tmp_path, capsys):
    old = _c9(0.5)
    del old["details"]["evidence"]  # a file written before evidence was stored
    assert main(["recheck", str(_results(tmp_path, [old]))]) == 1
    assert "no evidence stored" in capsys.readouterr().out


def test_a_missing_or_foreign_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["recheck", str(tmp_path)]) != 0
    (tmp_path / "results.json").write_text("{}")
    assert main(["recheck", str(tmp_path)]) != 0
    assert "holds no claims" in capsys.readouterr().err
