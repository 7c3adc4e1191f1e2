"""The report's first section: what each claim says, its verdict and the numbers that decided it.

Reads ``results["claims"]`` (one ``ClaimResult.to_dict()`` per claim) leniently: a results.json
without it renders no section, and a malformed entry or ``details`` costs a cell or a plot, never
the report. Small per-claim plots are drawn from ``details["series"]``
(:mod:`trigen.report.claim_plots`). No torch.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigen.claims.ledger import SEEDS_RULE, Verdict
from trigen.report.claim_plots import parse_series, series_plot
from trigen.report.table import fmt, markdown_table

TITLE = "What the claims say, and what we measured"
HEADER = ["id", "claim", "verdict", "deciding number", "training seeds × samples", "rerun"]
BADGE_COLOURS = {  # (background, text)
    Verdict.SUPPORTED: ("#2e7d32", "#fff"),
    Verdict.REFUTED: ("#c62828", "#fff"),
    Verdict.INCONCLUSIVE: ("#f9a825", "#222"),
    Verdict.UNSTABLE: ("#6a1b9a", "#fff"),  # the training seeds disagree
    Verdict.NOT_RUN: ("#9e9e9e", "#fff"),
}
UNKNOWN_VERDICT = "unknown"  # a verdict string this version does not know: shown grey, as given
STYLE = (
    ".verdict{display:inline-block;padding:1px 8px;border-radius:9px;font-weight:bold;"
    "font-size:12px;white-space:nowrap;background:#9e9e9e;color:#fff}"
    + "".join(
        f".verdict-{v.value}{{background:{bg};color:{fg}}}" for v, (bg, fg) in BADGE_COLOURS.items()
    )
    + "section.claim{border-top:1px solid #ddd;margin-top:1em}"
    # a claim with a figure: its text beside the figure card on a wide screen, above it on a
    # narrow one (auto-fit: a lone column takes the whole width)
    ".claim-body{display:grid;gap:16px;align-items:start;"
    "grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr))}"
)
VERDICTS = frozenset(v.value for v in Verdict)
SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")  # ids that may name a file and an HTML anchor


@dataclass(frozen=True)
class ClaimRow:
    """One entry of ``results["claims"]``, every field present (missing ones empty)."""

    id: str
    claim: str
    experiment: str
    rule: str
    command: str
    verdict: str
    why: str
    measured: tuple[dict[str, Any], ...]
    n_seeds: int
    n_samples: int
    figure: str | None
    details: Any

    @property
    def ran(self) -> bool:
        return self.verdict != Verdict.NOT_RUN

    @property
    def known_verdict(self) -> Verdict | None:
        return Verdict(self.verdict) if self.verdict in VERDICTS else None


def _number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (bools, strings, out-of-range ints)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _int(value: Any) -> int:
    v = _number(value)
    return int(v) if v is not None and math.isfinite(v) else 0


def _fmt(value: Any) -> str:
    """``table.fmt`` of a number, ``"—"`` for anything that is not one."""
    return fmt(_number(value))


def load_claims(results: dict[str, Any]) -> list[ClaimRow]:
    """The claims of ``results`` in their order; ``[]`` for a results.json from before claims."""
    raw = results.get("claims")
    if not isinstance(raw, list):
        return []
    rows = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            continue
        figure = c.get("figure")
        measured = c.get("measured") if isinstance(c.get("measured"), list) else []
        rows.append(
            ClaimRow(
                id=str(c.get("id") or f"#{i + 1}"),
                claim=str(c.get("claim") or ""),
                experiment=str(c.get("experiment") or ""),
                rule=str(c.get("rule") or ""),
                command=str(c.get("command") or ""),
                verdict=str(c.get("verdict") or UNKNOWN_VERDICT),
                why=str(c.get("why") or ""),
                measured=tuple(e for e in measured if isinstance(e, dict)),
                n_seeds=_int(c.get("n_seeds")),
                n_samples=_int(c.get("n_samples")),
                figure=figure if isinstance(figure, str) and figure else None,
                details=c.get("details"),
            )
        )
    return rows


def estimate_text(e: dict[str, Any]) -> str:
    """``"0.42 [0.31, 0.55] MB (n = 3 seeds, t 95.0 % over seeds)"``: what n counts is named;
    no brackets for a counted value; "no interval" where none could be made (null ends)."""
    value, low, high = e.get("value"), e.get("low"), e.get("high")
    unit = f" {e['unit']}" if e.get("unit") else ""
    if not e:
        return "—"
    if low is None and high is None:
        span = " (no interval)"
    elif low is None or high is None:
        span = f" [{'−∞' if low is None else _fmt(low)}, {'∞' if high is None else _fmt(high)}]"
    else:
        span = "" if low == high == value else f" [{_fmt(low)}, {_fmt(high)}]"
    count = f"n = {e['n']} {e.get('n_of', '')}".rstrip() if "n" in e else ""
    how = ", ".join(s for s in (count, str(e.get("method") or "")) if s)
    return f"{_fmt(value)}{span}{unit}{f' ({how})' if how else ''}"


def headline(c: ClaimRow) -> str:
    """The deciding number: the first estimate with its name; the reason for a claim not run."""
    if not c.ran:
        return f"not run: {c.why}" if c.why else "not run"
    if not c.measured:
        return "—"
    first = c.measured[0]
    name = first.get("name")
    return f"{name}: {estimate_text(first)}" if name else estimate_text(first)


def counts_text(claims: list[ClaimRow]) -> str:
    """``"13 claims: 5 supported, 3 refuted, 2 inconclusive, 3 not run"`` (zeros left out)."""
    counts = {v: sum(c.verdict == v for c in claims) for v in Verdict}
    other = len(claims) - sum(counts.values())
    parts = [f"{n} {v.value.replace('_', ' ')}" for v, n in counts.items() if n]
    parts += [f"{other} with an unknown verdict"] if other else []
    return f"{len(claims)} claim{'s' if len(claims) != 1 else ''}: {', '.join(parts)}"


def seeds_text(c: ClaimRow) -> str | None:
    """``"seed 0: supported; seed 1: refuted; pooled over seeds: inconclusive"``: the verdict of
    each training seed's runs alone and of the seeds pooled; None for a claim decided once."""
    details = c.details if isinstance(c.details, dict) else {}
    per_seed, pooled = details.get("per_seed_verdicts"), details.get("pooled_verdict")
    if not isinstance(per_seed, list) or not isinstance(pooled, dict):
        return None
    parts = [
        f"seed {d.get('seed', '?')}: {str(d.get('verdict', '?')).replace('_', ' ')}"
        for d in per_seed
        if isinstance(d, dict)
    ]
    return "; ".join([*parts, f"pooled over seeds: {pooled.get('verdict', '?')}"])


def _sizes(c: ClaimRow) -> str:
    """ "2 seeds × 64 samples": training runs per arm and samples per run."""
    if not (c.n_seeds or c.n_samples):
        return "—"
    seeds = f"{fmt(c.n_seeds)} seed{'s' if c.n_seeds != 1 else ''}"
    return f"{seeds} × {fmt(c.n_samples)} samples"


def claim_figures(claims: list[ClaimRow], report_dir: Path) -> dict[str, str]:
    """Claim id → its figure's file name under ``report_dir``: the run's own ``figure`` when that
    file exists, else ``claim_<id>.png`` drawn from ``details["series"]`` when they allow it."""
    figs = {}
    for c in claims:
        if c.figure and Path(c.figure).name == c.figure and (report_dir / c.figure).is_file():
            figs[c.id] = c.figure
        elif c.figure is None and SAFE_ID.fullmatch(c.id):
            series = parse_series(c.details)
            drawn = series and series_plot(series, c.id, report_dir / f"claim_{c.id}.png")
            if drawn:
                figs[c.id] = drawn.name
    return figs


# ---------------------------------------------------------------- markdown and HTML


def _one_line(s: str) -> str:
    return " ".join(s.split())


def markdown(claims: list[ClaimRow], figs: dict[str, str]) -> list[str]:
    """The section's markdown lines (none without claims); figures linked as ``report/<name>``."""
    if not claims:
        return []
    rows = [
        [
            c.id,
            _one_line(c.claim),
            f"**{c.verdict.replace('_', ' ')}**",
            _one_line(headline(c)),
            _sizes(c),
            f"`{c.command}`" if c.command else "—",
        ]
        for c in claims
    ]
    md = [
        f"## {TITLE}",
        "",
        markdown_table(HEADER, rows),
        "",
        f"**Verdicts:** {counts_text(claims)}.",
    ]
    if any(seeds_text(c) is not None for c in claims):
        md += ["", f"**Training seeds:** {SEEDS_RULE}."]
    for c in claims:
        if not c.ran:
            continue
        md += ["", f"### {c.id} — {c.verdict}: {_one_line(c.claim)}", ""]
        md += [f"- **Experiment:** {_one_line(c.experiment)}", f"- **Rule:** {_one_line(c.rule)}"]
        md += [f"- **Why:** {_one_line(c.why)}"]
        if (per_seed := seeds_text(c)) is not None:
            md += [f"- **Per training seed:** {per_seed}"]
        md += ["- **Measured:**"]
        md += [f"  - {e.get('name', '?')}: {estimate_text(e)}" for e in c.measured] or ["  - —"]
        if c.figure and c.id not in figs:
            md += [f"- figure `{c.figure}` is missing from the report directory"]
        if c.id in figs:
            md += ["", f"![{c.id}](report/{figs[c.id]})"]
    return md


def _badge(c: ClaimRow) -> str:
    css = c.known_verdict.value if c.known_verdict else UNKNOWN_VERDICT
    text = c.verdict.replace("_", " ")
    return f'<span class="verdict verdict-{css}">{html.escape(text)}</span>'


def _anchor(c: ClaimRow) -> str:
    return f"claim-{c.id}" if SAFE_ID.fullmatch(c.id) else ""


def html_parts(
    claims: list[ClaimRow], figs: dict[str, str], figure: Callable[[str, str], str]
) -> list[str]:
    """The section's HTML; ``figure(name, alt)`` inlines a PNG of the report directory."""
    if not claims:
        return []
    e = html.escape
    rows = []
    for c in claims:
        ident = f'<a href="#{_anchor(c)}">{e(c.id)}</a>' if c.ran and _anchor(c) else e(c.id)
        command = f"<code>{e(c.command)}</code>" if c.command else "—"
        cells = [ident, e(c.claim), _badge(c), e(headline(c)), e(_sizes(c)), command]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
    parts = [
        f"<h2>{e(TITLE)}</h2>",
        f'<table class="claims"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table>",
        f"<p><b>Verdicts:</b> {e(counts_text(claims))}.</p>",
    ]
    if any(seeds_text(c) is not None for c in claims):
        parts.append(f"<p><b>Training seeds:</b> {e(SEEDS_RULE)}.</p>")
    for c in claims:
        if not c.ran:
            continue
        estimates = "".join(
            f"<li>{e(str(m.get('name', '?')))}: {e(estimate_text(m))}</li>" for m in c.measured
        )
        text = [
            f"<p><b>Experiment:</b> {e(c.experiment)}</p>",
            f"<p><b>Rule:</b> {e(c.rule)}</p>",
            f"<p><b>Why:</b> {e(c.why)}</p>",
        ]
        if (per_seed := seeds_text(c)) is not None:
            text.append(f"<p><b>Per training seed:</b> {e(per_seed)}</p>")
        text.append(f"<p><b>Measured:</b></p><ul>{estimates or '<li>—</li>'}</ul>")
        if c.figure and c.id not in figs:
            text.append(f"<p>figure <code>{e(c.figure)}</code> is missing from the report.</p>")
        card = figure(figs[c.id], c.id) if c.id in figs else ""
        parts += [
            f'<section class="claim" id="{_anchor(c)}">',
            f"<h3>{e(c.id)} {_badge(c)} {e(c.claim)}</h3>",
            f'<div class="claim-body"><div>{"".join(text)}</div>{card}</div>',
            "</section>",
        ]
    return parts
