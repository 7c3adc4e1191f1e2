"""The report's condition-adherence section: how closely each family's samples follow the
conditions they were asked for, beside the real-image ceiling and chance, and the grids that show
the requests beside the samples (``results["adherence"]``, :mod:`trigen.compare.adherence`).

No torch here: the report is rebuilt from a saved ``results.json`` alone.
"""

from __future__ import annotations

import math
from typing import Any

from trigen.report.table import BLANK, FAMILY_TITLES, INTERVAL, drop_blank_columns, fmt

TITLE = "Condition adherence"
INTRO = (
    "Each condition asked for alone (the others null, the class label kept) with the conditions "
    "of the first n test images; MAE in the attribute's unit, r the Pearson correlation of "
    "requested and measured values, skeleton F1 at a 1-pixel tolerance, captions as the note "
    "below says; 95 % intervals in brackets (bootstrap, Wilson for rates), and @m where only m "
    "samples could be measured. Ceiling: the real "
    "test images scored against their own conditions; chance: each family's samples scored "
    "against another image's request."
)
ATTRIBUTE_COLUMNS = (  # (attribute, statistic, header, unit of the statistic)
    ("thickness", "mae", "thickness MAE", "px"),
    ("thickness", "corr", "thickness r", ""),
    ("slant", "mae", "slant MAE", "rad"),
    ("slant", "corr", "slant r", ""),
)
MAP_STATISTIC = "f1"
TEXT_COLUMNS = (  # (score, statistic, header) of a caption condition
    ("r_precision", "rate", "R-precision"),
    ("r_precision_held_out", "rate", "R-precision, held-out"),
    ("class_accuracy", "rate", "class acc."),
    ("class_accuracy_held_out", "rate", "class acc., held-out"),
    ("bin_accuracy", "rate", "bin acc. (thickness & slant)"),
    ("bin_accuracy_held_out", "rate", "bin acc., held-out"),
    ("cosine", "mean", "caption cosine"),
)
DECIMALS = 6  # values are rounded here first: the ceiling's MAE of 0 is not shown as 5e-09
CHANCE = "chance (requests rolled by one)"
CEILING = "real test images (the ceiling)"
STYLE = (
    ".adherence{display:grid;gap:16px;margin:1em 0;"
    "grid-template-columns:repeat(auto-fill,minmax(min(460px,100%),1fr))}"
    ".adherence img{image-rendering:pixelated}"
)

Column = tuple[str, str | None, str]  # (condition, attribute or None for a map, statistic)


def adherence_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows): each family's samples and its chance row, then the ceiling at each
    request count; None when the results hold no adherence study (a run without conditions)."""
    scored = _scored(results)
    if not scored:
        return None
    columns, headers = _columns(results["adherence"].get("conditions", []), scored)
    header = ["family", "requests per condition (n)", *(h + INTERVAL for h in headers)]
    rows, ceilings = [], {}
    for family, record in scored.items():
        title, n, scores = FAMILY_TITLES.get(family, family), record["n"], record["scores"]
        rows.append([title, fmt(n), *(_cell(scores, c, "samples") for c in columns)])
        rows.append([f"{title}: {CHANCE}", fmt(n), *(_cell(scores, c, "chance") for c in columns)])
        ceilings.setdefault(n, scores)  # the first n test images: the same for every family
    for n, scores in sorted(ceilings.items()):
        rows.append([CEILING, fmt(n), *(_cell(scores, c, "real") for c in columns)])
    return drop_blank_columns(header, rows, keep=2)


def adherence_grids(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, file relative to the run directory) of each grid of requests beside samples."""
    study = results.get("adherence")
    if not isinstance(study, dict):
        return []
    return [(g["title"], g["file"]) for g in study.get("grids", []) if isinstance(g, dict)]


def adherence_notes(results: dict[str, Any]) -> list[str]:
    """How captions were judged (with the text matcher's own accuracy), and why a family has no
    adherence row (a reused run trained without the conditions)."""
    study = results.get("adherence")
    families = study.get("families", {}) if isinstance(study, dict) else {}
    matcher = study.get("text_matcher") if isinstance(study, dict) else None
    notes = [_text_note(matcher)] if isinstance(matcher, dict) else []
    return notes + [
        f"{FAMILY_TITLES.get(family, family)}: {record['skipped']}"
        for family, record in families.items()
        if isinstance(record, dict) and record.get("skipped")
    ]


def _text_note(matcher: dict[str, Any]) -> str:
    """How samples asked for captions were judged, and how well the judge itself does."""
    rate, interval = matcher.get("test_r_precision"), matcher.get("test_r_precision_interval")
    own = "—" if not _finite(rate) else fmt(round(rate, DECIMALS))
    if own != "—" and isinstance(interval, list) and all(_finite(v) for v in interval):
        own += f" [{fmt(round(interval[0], DECIMALS))}, {fmt(round(interval[1], DECIMALS))}]"
    return (
        "Captions: each family asked for the captions of the first n test images (on MNIST also "
        "of n test images of held-out combinations, never in training), the class label null. "
        "R-precision: the requested caption ranked first among 100 (1 true, 99 of other test "
        "images) by a text matcher trained on the captioned training split; caption cosine: its "
        "image–caption cosine (a CLIP-score analogue); on MNIST, class acc.: the domain "
        "classifier names the requested digit, and bin acc.: the measured thickness and slant "
        "both fall in the requested bins. The matcher's own R-precision on "
        f"{matcher.get('test_requests', '?')} "
        f"real test images: {own}."
    )


def _scored(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    study = results.get("adherence")
    families = study.get("families", {}) if isinstance(study, dict) else {}
    return {f: r for f, r in families.items() if isinstance(r, dict) and "scores" in r}


def _columns(
    conditions: list[str], scored: dict[str, dict[str, Any]]
) -> tuple[list[Column], list[str]]:
    """The table's columns in the order the conditions were asked for, with headers that carry
    each attribute's unit and the training data's standard deviation (MAE's scale)."""
    columns: list[Column] = []
    headers: list[str] = []
    for condition in conditions:
        scores = next(r["scores"][condition] for r in scored.values() if condition in r["scores"])
        if scores.get("kind") == "text":
            chance = scores.get("chance_r_precision")
            for score, statistic, name in TEXT_COLUMNS:
                columns.append((condition, score, statistic))
                first = score == "r_precision" and _finite(chance)
                headers.append(
                    f"{condition} {name}" + (f" (chance {fmt(chance)})" if first else "")
                )
            continue
        if scores.get("kind") == "map":
            columns.append((condition, None, MAP_STATISTIC))
            headers.append(f"{condition} F1 @1 px")
            continue
        for attribute, statistic, name, unit in ATTRIBUTE_COLUMNS:
            std = scores.get("std", {}).get(attribute)
            scale = f"; data std {fmt(std)}" if statistic == "mae" and std is not None else ""
            columns.append((condition, attribute, statistic))
            headers.append(f"{name} ({unit}{scale})" if unit else name)
    return columns, headers


def _cell(scores: dict[str, Any], column: Column, which: str) -> str:
    """``value [low, high]`` of one statistic of ``which`` (samples, chance or real), with
    ``@m`` where fewer rows than requested could be measured."""
    condition, attribute, statistic = column
    stat = scores.get(condition, {}).get(which, {})
    if attribute is not None:
        stat = stat.get(attribute, {})
    value = stat.get(statistic)
    if not _finite(value):
        return BLANK
    text = fmt(round(value, DECIMALS))
    low, high = (stat.get(f"{statistic}_interval") or (None, None))[:2]
    if _finite(low) and _finite(high):
        text += f" [{fmt(round(low, DECIMALS))}, {fmt(round(high, DECIMALS))}]"
    measured, requested = stat.get("n"), scores.get(condition, {}).get("n")
    if isinstance(measured, int) and isinstance(requested, int) and measured < requested:
        text += f" @{measured}"
    return text


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
