"""results.json → report.md and report/index.html (self-contained: images inlined). No torch."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from trigen.atomic import atomic_write_text
from trigen.report import adherence as adherence_section
from trigen.report import claims as claims_section
from trigen.report import plots
from trigen.report import seeds as seeds_section
from trigen.report.axes import FIGSIZE
from trigen.report.table import (
    FAMILY_TITLES,
    comparison_rows,
    markdown_table,
    metric_rows,
    study_tables,
    training_spent,
)

RESULTS_FILE = "results.json"
FIGURE_GRID = "figures"  # the CSS class of the grid that holds the report's figure cards
TABLE_SCROLL = "table-scroll"  # a table wider than the page scrolls inside it, not the page
# Figure cards in a grid: two columns on a wide screen, one on a narrow one; every plot is drawn
# at FIGSIZE, and images of another shape (a run's own figure) are fitted into that shape.
STYLE = (
    f".{FIGURE_GRID},.samples{{display:grid;gap:16px;margin:1em 0;"
    "grid-template-columns:repeat(auto-fill,minmax(min(460px,100%),1fr))}"
    ".samples{grid-template-columns:repeat(auto-fill,minmax(min(260px,100%),1fr))}"
    "figure.card{margin:0;padding:8px;border:1px solid #ddd;border-radius:6px;background:#fff}"
    "figure.card figcaption{font-size:13px;font-weight:bold;margin-bottom:6px}"
    "figure.card img{display:block;width:100%;height:auto}"
    f".{FIGURE_GRID} img,.claim-body img{{aspect-ratio:{FIGSIZE[0]}/{FIGSIZE[1]};"
    "object-fit:contain}"
    ".samples img{image-rendering:pixelated}"
    # a number and its interval stay on one line ("43 [35.7, 43]", not three)
    f".{TABLE_SCROLL}{{overflow-x:auto}}table.metrics td{{white-space:nowrap}}"
)


def _figures(results: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """Draw every figure the results allow; (title, path relative to ``out``)."""
    studies = results.get("studies", {})
    made = [
        *plots.loss_curves(results, out),
        (
            "Quality vs NFE (diffusion samplers)",
            plots.quality_vs_nfe(studies.get("nfe", []), out / "quality_vs_nfe.png"),
        ),
        *plots.scaling_vs_resolution(studies.get("resolution", []), out),
        *plots.cfg_sweep(studies.get("cfg", []), out),
    ]
    figs = [(title, path.name) for title, path in made if path is not None]
    rf = studies.get("receptive_field_png")
    if rf:
        figs.append(("Effective receptive field of the centre output (|∂ out / ∂ in|)", rf))
    return figs


def host_text(host: dict[str, Any]) -> str:
    """``"AMD EPYC 9B14 (avx2, avx512f), 2 cores, 2 torch threads, bf16 in hardware: no"``."""
    isa = host.get("isa")
    flags = f" ({', '.join(map(str, isa))})" if isinstance(isa, list) and isa else ""
    bf16 = {True: "yes", False: "no"}.get(host.get("bf16_fast"), "?")
    return (
        f"{host.get('cpu_model', '?')}{flags}, {host.get('cores', '?')} cores, "
        f"{host.get('torch_threads', '?')} torch threads, bf16 in hardware: {bf16}"
    )


def _meta_items(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    """The header's (key, value) lines; with ``meta.host`` (newer runs) the bare ``cpu`` string
    becomes the CPU model, ISA flags and cores, and ``torch`` gains its build."""
    host = meta.get("host")
    if not isinstance(host, dict):
        return list(meta.items())
    items = []
    for key, value in meta.items():
        if key == "host":
            continue
        if key == "cpu":
            value = host_text(host)
        elif key == "torch" and host.get("torch_build"):
            value = f"{host.get('torch', value)} ({host['torch_build']})"
        elif key == "device" and host.get("device") not in (None, "cpu", value):
            value = f"{value} ({host['device']})"
        items.append((key, value))
    if "cpu" not in meta:
        items.append(("cpu", host_text(host)))
    return items


def render(run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report/index.html`` next to ``results.json`` in ``run_dir``."""
    run_dir = Path(run_dir)
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    figs = _figures(results, run_dir / "report")
    claims = claims_section.load_claims(results)
    claim_figs = claims_section.claim_figures(claims, run_dir / "report")
    meta = results.get("meta", {})
    meta_items = _meta_items(meta)
    if spent := training_spent(results):  # beside the budget: what each family got of it
        at = next((i + 1 for i, (k, _) in enumerate(meta_items) if k == "budget"), 0)
        meta_items.insert(at, ("trained", spent))
    ch, crow = comparison_rows(results)
    mh, mrow = metric_rows(results)
    grids = [
        (FAMILY_TITLES.get(f, f), r["grid"])
        for f, r in results["families"].items()
        if r.get("grid")
    ]
    adherence = adherence_section.adherence_table(results)  # None: a run without conditions
    adherence_grids = adherence_section.adherence_grids(results)

    md = [f"# trigen comparison on {meta.get('dataset', '?')}", ""]
    md += [f"- {k}: {v}" for k, v in meta_items]
    claims_md = claims_section.markdown(claims, claim_figs)
    md += ["", *claims_md] if claims_md else []  # the claims first; absent from older runs
    md += [
        "",
        "## The comparison table (measured)",
        "",
        markdown_table(ch, crow),
        "",
        "## Metrics",
        "",
        markdown_table(mh, mrow),
        "",
    ]
    if (per_seed := seeds_section.seed_rows(results)) is not None:  # two or more seeds
        md += [f"## {seeds_section.TITLE}", "", seeds_section.INTRO, ""]
        md += [markdown_table(*per_seed), ""]
    for title, cols, rows in study_tables(results):
        md += [f"## {title}", "", markdown_table(cols, rows), ""]
    if adherence is not None:
        md += [f"## {adherence_section.TITLE}", "", adherence_section.INTRO, ""]
        md += [markdown_table(*adherence), ""] + [f"![{t}]({g})" for t, g in adherence_grids]
        md += [f"- {n}" for n in adherence_section.adherence_notes(results)] + [""]
    md += ["## Samples", ""] + [f"![{t}]({g})" for t, g in grids]
    md += ["", "## Figures", ""] + [f"![{t}](report/{p})" for t, p in figs]
    notes = results.get("notes", [])
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    md_path = run_dir / "report.md"
    atomic_write_text(md_path, "\n".join(md) + "\n")

    def img(path: Path, alt: str) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        return (
            f'<figure class="card"><figcaption>{html.escape(alt)}</figcaption>'
            f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'
        )

    def grid(cards: list[str], css: str) -> str:
        return f'<div class="{css}">{"".join(cards)}</div>' if cards else ""

    def table(header: list[str], rows: list[list[str]], css: str) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
        )
        return (
            f'<div class="{TABLE_SCROLL}"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )

    parts = [
        f"<h1>trigen comparison on {html.escape(str(meta.get('dataset', '?')))}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(f'{k}: {v}')}</li>" for k, v in meta_items) + "</ul>",
        *claims_section.html_parts(
            claims, claim_figs, lambda name, alt: img(run_dir / "report" / name, alt)
        ),
        "<h2>The comparison table (measured)</h2>",
        table(ch, crow, "comparison"),
        "<h2>Metrics</h2>",
        table(mh, mrow, "metrics"),
    ]
    if per_seed is not None:
        parts += [f"<h2>{seeds_section.TITLE}</h2><p>{html.escape(seeds_section.INTRO)}</p>"]
        parts += [table(*per_seed, "metrics")]
    for title, cols, rows in study_tables(results):
        parts += [f"<h2>{html.escape(title)}</h2>", table(cols, rows, "study")]
    if adherence is not None:
        parts += [
            f"<h2>{adherence_section.TITLE}</h2><p>{html.escape(adherence_section.INTRO)}</p>",
            table(*adherence, "adherence-table"),
            grid([img(run_dir / g, t) for t, g in adherence_grids], "adherence"),
            *(f"<p>{html.escape(n)}</p>" for n in adherence_section.adherence_notes(results)),
        ]
    parts += ["<h2>Samples</h2>", grid([img(run_dir / g, t) for t, g in grids], "samples")]
    figures = [img(run_dir / "report" / p, t) for t, p in figs]
    parts += ["<h2>Figures</h2>", grid(figures, FIGURE_GRID)]
    if notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "font-size:13px;vertical-align:top}th{background:#f4f4f4}"
        + STYLE
        + claims_section.STYLE
        + (adherence_section.STYLE if adherence is not None else "")
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>trigen report</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    html_path = run_dir / "report" / "index.html"
    atomic_write_text(html_path, page)
    return md_path, html_path
