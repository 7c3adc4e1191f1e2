"""The README's demo and claims tables are rendered from the committed results files: README.md
equals what they render, ``trigen report --readme`` rewrites only the marked sections, and a
missing marker or results file is a one-line error that leaves the README as it was."""

import copy
import difflib
import json
import re
from pathlib import Path

import pytest

from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Verdict
from trigen.cli import main
from trigen.errors import ConfigError, DataError
from trigen.report.readme import (
    BEGIN,
    END,
    SECTIONS,
    claims_table,
    demo_lines,
    demo_table,
    rendered_readme,
    update_readme,
)
from trigen.report.table import FAMILY_TITLES, fmt

from .test_render import RESULTS

REPO = Path(__file__).resolve().parents[2]
META = {
    "dataset": "mnist",
    "budget": "2 wall-clock minutes per family",
    "precision": "fp32",
    "date": "2031-01-02T03:04:05",
    "commit": "0123abc",
    "command": "trigen compare --preset demo --out docs/demo",
    "host": {"cpu_model": "Test CPU 9000", "isa": ["avx2"], "cores": 2, "torch_threads": 2},
}
OUTSIDE = (
    "# title\n\nprose before, with numbers 1.5 and 2 that stay\n\n",
    "\n\nbetween\n\n",
    "\nend\n",
)


def _demo_results() -> dict:
    results = copy.deepcopy(RESULTS)
    results["meta"] = dict(META)
    for i, record in enumerate(results["families"].values()):
        record["quality"].update(fid_low=29.0 + i, fid_high=33.0 + i, fid_reference_images=300)
    results["studies"]["cfg"] = [
        {"family": f, "scale": s, "cond_accuracy": 0.5, "samples": 320}
        for f in results["families"]
        for s in (1.0, 3.0)
    ]
    return results


def _claims_results(ids: list[str]) -> dict:
    measured = (Estimate("DiT − U-Net", 0.42, 0.31, 0.55, "", 3, "t 95 % over seeds", "seeds"),)
    claims = [
        ClaimResult(CLAIMS[cid], Verdict.SUPPORTED, f"{cid}: 0.42 lies above 0", measured, 3, 64)
        for cid in ids
    ]
    return {"meta": {**META, "command": "make claims"}, "claims": [c.to_dict() for c in claims]}


def _section(name: str) -> str:
    return f"{BEGIN.format(name=name)}\nhand-typed\n{END.format(name=name)}"


def _checkout(tmp_path: Path, readme: str | None = None) -> Path:
    """A folder with README.md and the two results files at the paths the sections name."""
    files = {"demo-table": _demo_results(), "claims-table": _claims_results(["C1", "C2"])}
    for section in SECTIONS:
        path = tmp_path / section.source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(files[section.name]))
    if readme is None:
        readme = (
            OUTSIDE[0] + _section("demo-table") + OUTSIDE[1] + _section("claims-table") + OUTSIDE[2]
        )
    (tmp_path / "README.md").write_text(readme)
    return tmp_path / "README.md"


def _between(text: str, name: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    return text[text.index(begin) + len(begin) : text.index(end)]


def test_readme_equals_what_the_committed_results_render():
    text, rendered = rendered_readme(REPO / "README.md")
    diff = "".join(
        list(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True), n=0))[:40]
    )
    assert text == rendered, (
        "README.md's generated tables differ from what the committed results render; run "
        f"`trigen report --readme` and commit README.md:\n{diff}"
    )


def test_readme_is_rewritten_between_the_markers_only(tmp_path):
    readme = _checkout(tmp_path)
    assert update_readme(readme) is True
    text = readme.read_text()
    assert "hand-typed" not in text
    # everything outside the markers is kept byte for byte
    for name in ("demo-table", "claims-table"):
        text = text.replace(_between(text, name), "")
    bare = OUTSIDE[0] + _section("demo-table") + OUTSIDE[1] + _section("claims-table") + OUTSIDE[2]
    assert text == bare.replace("\nhand-typed\n", "")
    # a second run finds nothing to change and leaves the file as it is
    before = readme.read_text()
    assert update_readme(readme) is False and readme.read_text() == before


def test_each_section_names_its_source_date_commit_cpu_and_budget(tmp_path):
    readme = _checkout(tmp_path)
    update_readme(readme)
    text = readme.read_text()
    for section in SECTIONS:
        body = _between(text, section.name)
        for needle in (section.source, META["date"], META["commit"], "Test CPU 9000"):
            assert needle in body, (section.name, needle)
        assert f"budget: {META['budget']}" in body


def test_demo_rows_carry_each_familys_numbers_with_interval_and_count():
    results = _demo_results()
    header, rows = demo_table(results)
    assert [row[0] for row in rows] == [FAMILY_TITLES[f] for f in results["families"]]
    fid = next(i for i, h in enumerate(header) if h.startswith("FID"))
    # every family shares its sample and reference counts: said once, in the header
    assert header[fid] == "FID vs 300 test images [95 %] (n = 1,000)"
    for row, record in zip(rows, results["families"].values(), strict=True):
        q = record["quality"]
        assert row[fid] == f"{fmt(q['fid'])} [{fmt(q['fid_low'])}, {fmt(q['fid_high'])}]"
    assert "class acc. cfg 3 [95 %] (n = 320)" in header
    assert not any("FLOPs" in h for h in header)  # no family has them: no blank column


def test_demo_counts_that_differ_go_into_the_cells():
    results = _demo_results()
    results["families"]["ar"]["quality"]["fid_samples"] = 160
    header, rows = demo_table(results)
    fid = header.index("FID vs 300 test images [95 %]")
    assert rows[0][fid].endswith("(n = 1,000)") and rows[2][fid].endswith("(n = 160)")


def test_claims_table_holds_every_ledger_claim_and_each_seeds_verdict():
    results = _claims_results(["C1", "C2"])
    results["claims"][0]["verdict"] = "unstable"
    results["claims"][0]["details"] = {
        "per_seed_verdicts": [
            {"seed": 0, "verdict": "supported", "why": "a"},
            {"seed": 1, "verdict": "inconclusive", "why": "b"},
        ],
        "pooled_verdict": {"verdict": "supported", "why": "c"},
    }
    results["claims"][0]["why"] = "the seeds disagree: seed 0: supported (a); seed 1: … (b)"
    _, rows = claims_table(results, "docs/claims/results.json")
    assert [row[0] for row in rows] == list(CLAIMS)  # file order, then the ledger's others
    assert rows[0][2] == "**unstable** (seed 0 supported, seed 1 inconclusive; pooled supported)"
    assert rows[0][4].startswith("the seeds disagree; pooled over seeds: c")
    assert rows[1][3] == "DiT − U-Net: 0.42 [0.31, 0.55] (n = 3 seeds, t 95 % over seeds)"
    for row in rows[2:]:
        assert row[2] == "**not run**" and CLAIMS[row[0]].command in row[4]


@pytest.mark.parametrize(
    ("readme", "marker"),
    [
        (OUTSIDE[0] + _section("claims-table"), BEGIN.format(name="demo-table")),
        (
            _section("demo-table") + "\n" + BEGIN.format(name="claims-table") + "\nno end\n",
            BEGIN.format(name="claims-table"),
        ),
        (
            _section("demo-table") + "\n" + END.format(name="claims-table") + "\n"
            + BEGIN.format(name="claims-table") + "\n",
            BEGIN.format(name="claims-table"),
        ),  # the end marker before the begin
        (_section("demo-table") * 2 + _section("claims-table"), BEGIN.format(name="demo-table")),
    ],
)  # fmt: skip
def test_a_missing_marker_is_a_one_line_error_and_the_readme_stays(
    tmp_path, capsys, readme, marker
):
    path = _checkout(tmp_path, readme)
    with pytest.raises(ConfigError, match=re.escape(marker)):
        update_readme(path)
    assert main(["report", "--readme", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and marker in err
    assert path.read_text() == readme


def test_a_missing_results_file_is_a_one_line_error(tmp_path, capsys):
    readme = _checkout(tmp_path)
    (tmp_path / SECTIONS[1].source).unlink()
    before = readme.read_text()
    with pytest.raises(DataError, match=re.escape("results.json does not exist")):
        update_readme(readme)
    assert main(["report", "--readme", str(readme)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and SECTIONS[1].source in err
    assert readme.read_text() == before
    (tmp_path / SECTIONS[1].source).write_text("{not json")
    assert main(["report", "--readme", str(readme)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_trigen_report_readme_rewrites_the_tables(tmp_path, capsys):
    readme = _checkout(tmp_path)
    assert main(["report", "--readme", str(readme)]) == 0
    assert "hand-typed" not in readme.read_text()
    assert main(["report", "--readme", str(tmp_path / "missing.md")]) == 2
    assert main(["report"]) == 2  # neither a run directory nor --readme


def test_a_mean_over_training_seeds_says_so():
    results = _demo_results()
    assert "mean over training seeds" not in demo_lines(results, "docs/demo/results.json")[0]
    for record in results["families"].values():
        record["across_seeds"] = {"seeds": [0, 1, 2], "metrics": {}}
    head = demo_lines(results, "docs/demo/results.json")[0]
    assert "the mean over training seeds 0, 1, 2" in head
