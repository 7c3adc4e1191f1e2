"""The report opens with the claims: one row per claim, its verdict and deciding number, a block
per claim that ran with a small plot from its details; older results.json files render as before."""

import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.claims.ledger import CLAIMS, ClaimResult, Estimate, Verdict
from trigen.report.claims import (
    TITLE,
    claim_figures,
    estimate_text,
    html_parts,
    load_claims,
    markdown,
)
from trigen.report.grids import save_grid
from trigen.report.render import render

from .test_render import RESULTS

VERDICT_CYCLE = (  # every verdict; the claims with figures below are never "not run"
    Verdict.SUPPORTED,
    Verdict.REFUTED,
    Verdict.INCONCLUSIVE,
    Verdict.NOT_RUN,
    Verdict.UNSTABLE,
)
SERIES_IDS = ("C1", "C5", "C6")  # details hold a well-formed series
MALFORMED_ID = "C2"  # details hold a series whose x and y differ in length
OWN_FIGURE_ID = "C3"  # the run drew its own figure
COMPARISON = "## The comparison table (measured)"


def _series(i: int) -> dict:
    x = [16, 32, 64, 128]
    y = [0.5 * (i + 1) * v for v in x]
    return {
        "label": f"family {i}",
        "x": x,
        "y": y,
        "low": [v * 0.8 for v in y],
        "high": [v * 1.2 for v in y],
        "xlabel": "resolution (pixels per side)",
        "ylabel": "peak memory (MB)",
        "logx": True,
        "logy": True,
    }


def _claim(i: int, cid: str) -> dict:
    verdict = VERDICT_CYCLE[i % len(VERDICT_CYCLE)]
    if verdict is Verdict.NOT_RUN:
        return ClaimResult.not_run(CLAIMS[cid], f"{cid} needs the claims preset").to_dict()
    details: dict = {"points": [1, 2, 3]}
    if cid in SERIES_IDS:
        details = {"series": [_series(0), _series(1)]}
    elif cid == MALFORMED_ID:
        details = {"series": [{**_series(0), "y": [1.0, 2.0]}]}
    measured = (
        Estimate("DiT − U-Net", 0.42, 0.31, 0.55, "", 3, "t 95 % over seeds", "seeds"),
        Estimate.exact("peak bytes", 2.5e7, "B"),
    )
    result = ClaimResult(
        CLAIMS[cid],
        verdict,
        f"the interval of {cid} decided it",
        measured,
        n_seeds=3,
        n_samples=1000,
        figure="own_figure.png" if cid == OWN_FIGURE_ID else None,
        details=details,
    )
    return result.to_dict()


def _results_with_claims() -> dict:
    results = copy.deepcopy(RESULTS)
    results["claims"] = [_claim(i, cid) for i, cid in enumerate(CLAIMS)]
    results["meta"]["cpu"] = "x86_64"
    results["meta"]["host"] = {
        "cpu_model": "AMD EPYC 9B14",
        "isa": ["avx2", "avx512f"],
        "cores": 2,
        "torch_threads": 2,
        "torch": "2.5.0+cpu",
        "torch_build": "CPU, MKL-DNN, kernels AVX512",
        "device": "cpu",
        "bf16_fast": False,
    }
    return results


def _render(tmp_path, results: dict) -> tuple[str, str]:
    (tmp_path / "results.json").write_text(json.dumps(results))
    rng = np.random.default_rng(0)
    for fam in results["families"]:
        grid = rng.integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
        save_grid(grid, tmp_path / f"{fam}_samples.png", nrow=2)
    save_grid(
        rng.integers(0, 256, (1, 8, 8, 1), np.uint8), tmp_path / "report" / "own_figure.png", nrow=1
    )
    md, page = render(tmp_path)
    return md.read_text(), page.read_text()


def _claims_rows(md: str) -> list[list[str]]:
    section = md[md.index(f"## {TITLE}") : md.index(COMPARISON)]
    return [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in section.splitlines()
        if re.match(r"\| C\d+ \|", line)
    ]


def test_markdown_opens_with_one_row_per_claim(tmp_path):
    results = _results_with_claims()
    md, _ = _render(tmp_path, results)
    assert md.index(f"## {TITLE}") < md.index(COMPARISON)
    rows = _claims_rows(md)
    assert [r[0] for r in rows] == list(CLAIMS)
    by_id = {c["id"]: c for c in results["claims"]}
    for cid, _claim_text, verdict, number, sizes, command in rows:
        claim = by_id[cid]
        assert verdict == f"**{claim['verdict'].replace('_', ' ')}**"
        assert command == f"`{claim['command']}`"
        if claim["verdict"] == Verdict.NOT_RUN:
            assert claim["why"] in number and sizes == "—"
            assert f"### {cid} " not in md  # no block for a claim that did not run
        else:
            assert number == "DiT − U-Net: 0.42 [0.31, 0.55] (n = 3 seeds, t 95 % over seeds)"
            assert sizes == "3 seeds × 1,000 samples"
            assert f"### {cid} — {claim['verdict']}" in md
    counts = {v: sum(c["verdict"] == v for c in results["claims"]) for v in Verdict}
    summary = ", ".join(f"{n} {v.value.replace('_', ' ')}" for v, n in counts.items())
    assert f"**Verdicts:** {len(CLAIMS)} claims: {summary}." in md
    assert "- peak bytes: 25M B (n = 1 counts, counted)" in md  # a count has no brackets


def test_claims_render_without_torch(tmp_path):
    _render(tmp_path, _results_with_claims())  # the grids and the run's own figure
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from trigen.report.render import render\n"
        f"render({str(tmp_path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert TITLE in (tmp_path / "report.md").read_text()


def test_series_claims_get_a_plot_and_malformed_details_do_not(tmp_path):
    md, page = _render(tmp_path, _results_with_claims())
    for cid in SERIES_IDS:
        assert (tmp_path / "report" / f"claim_{cid}.png").stat().st_size > 1000
        assert f"![{cid}](report/claim_{cid}.png)" in md
    assert not (tmp_path / "report" / f"claim_{MALFORMED_ID}.png").exists()
    assert f"![{MALFORMED_ID}]" not in md
    assert f"![{OWN_FIGURE_ID}](report/own_figure.png)" in md
    # three grids, eight study figures (three loss curves, NFE, two resolution, two guidance),
    # three series plots and the run's own figure, all inlined
    assert page.count("<img") == page.count("data:image/png;base64,") == 3 + 8 + 3 + 1


def test_html_opens_with_the_claims_and_coloured_badges(tmp_path):
    results = _results_with_claims()
    _, page = _render(tmp_path, results)
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == TITLE and headings[1] == "The comparison table (measured)"
    table = re.search(r'<table class="claims">.*?</table>', page, re.S).group(0)
    for claim in results["claims"]:
        assert table.count(f">{claim['id']}<") == 1
        assert f"<code>{claim['command']}</code>" in table
    for verdict in Verdict:
        n = sum(c["verdict"] == verdict for c in results["claims"])
        assert table.count(f'class="verdict verdict-{verdict.value}"') == n
        assert f".verdict-{verdict.value}{{background:" in page


def test_header_names_the_host(tmp_path):
    md, page = _render(tmp_path, _results_with_claims())
    line = "- cpu: AMD EPYC 9B14 (avx2, avx512f), 2 cores, 2 torch threads, bf16 in hardware: no"
    assert line in md and "- cpu: x86_64" not in md
    assert "AMD EPYC 9B14 (avx2, avx512f)" in page and "host:" not in md


def test_estimate_text_brackets_only_an_interval():
    exact = Estimate.exact("bytes", 1.5e6, "B").to_dict()
    assert estimate_text(exact) == "1.5M B (n = 1 counts, counted)"
    ranged = Estimate("slope", -0.31, -0.5, -0.12, "", 5, "OLS t 95 % (log-log)", "points")
    assert estimate_text(ranged.to_dict()) == (
        "-0.31 [-0.5, -0.12] (n = 5 points, OLS t 95 % (log-log))"
    )
    none = Estimate.undetermined("slope", 1.0, "2 points: no interval", n=2, n_of="points")
    assert estimate_text(none.to_dict()) == "1 (no interval) (n = 2 points, 2 points: no interval)"
    assert estimate_text({}) == "—"


def test_log_axes_fall_back_to_linear_for_non_positive_values(tmp_path):
    series = {**_series(0), "x": [0, 1, 2, 3], "y": [-1.0, 0.0, 1.0, 2.0], "low": None}
    claims = load_claims({"claims": [{"id": "C7", "verdict": "supported", "details": {}}]})
    claims = [c.__class__(**{**c.__dict__, "details": {"series": [series]}}) for c in claims]
    figs = claim_figures(claims, tmp_path)
    assert figs == {"C7": "claim_C7.png"} and (tmp_path / "claim_C7.png").is_file()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
NUMBERS = st.lists(st.floats() | st.integers(-(10**400), 10**400), min_size=1, max_size=4)
CLAIM_KEYS = {
    "id": JSON,
    "verdict": st.sampled_from([v.value for v in Verdict]) | JSON,
    "measured": st.lists(st.dictionaries(st.sampled_from(["name", "value", "low", "n"]), JSON)),
    "n_seeds": JSON,
    "n_samples": JSON,
    "why": JSON,
}
ODD_SERIES = st.lists(
    st.fixed_dictionaries(
        {"x": NUMBERS | JSON, "y": NUMBERS | JSON},
        optional={k: NUMBERS | JSON for k in ("label", "low", "high", "xlabel", "logx", "logy")},
    ),
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(claims=st.lists(JSON | st.fixed_dictionaries({}, optional=CLAIM_KEYS), max_size=3))
def test_odd_claim_entries_never_crash_the_section(claims):
    rows = load_claims({"claims": claims})
    assert all(isinstance(c.id, str) and isinstance(c.verdict, str) for c in rows)
    md = "\n".join(markdown(rows, {}))
    page = "".join(html_parts(rows, {}, lambda name, alt: ""))
    assert (TITLE in md and TITLE in page) == bool(rows)


@settings(max_examples=80, deadline=None)
@given(details=JSON | st.fixed_dictionaries({"series": JSON | ODD_SERIES}))
def test_odd_details_never_crash_a_plot(details):
    claims = load_claims({"claims": [{"id": "C1", "verdict": "supported", "details": details}]})
    with tempfile.TemporaryDirectory() as out:
        figs = claim_figures(claims, Path(out))
        assert set(figs) <= {"C1"}
        assert all((Path(out) / name).is_file() for name in figs.values())
