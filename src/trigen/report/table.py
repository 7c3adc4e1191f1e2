"""The classic comparison table (architecture … best use), filled with measured numbers.

No torch here: the report is rebuilt from a saved ``results.json`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trigen.families.cards import TITLES, card

FAMILY_TITLES = TITLES
"""Family name → its title in tables and figures (:mod:`trigen.families.cards`)."""


def fmt(value: Any, digits: int = 3) -> str:
    """Human-readable number: significant digits, SI suffix for large counts, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    v = float(value)
    if v != v:
        return "—"
    # (applies from, divisor, suffix): thousands get a suffix only from 10k on
    for threshold, divisor, suffix in (
        (1e12, 1e12, "T"),
        (1e9, 1e9, "G"),
        (1e6, 1e6, "M"),
        (1e4, 1e3, "k"),
    ):
        if abs(v) >= threshold:
            return f"{v / divisor:.{digits}g}{suffix}"
    if abs(v) >= 1e3:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _get(d: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _model(r: dict[str, Any]) -> str:
    """``"DiT-T/4 (rope=True), 1.87M params"``: the preset, what the run changed, the size."""
    changes = ", ".join(f"{k}={v}" for k, v in (r.get("model_overrides") or {}).items())
    name = f"{r.get('preset') or ''}{f' ({changes})' if changes else ''}"
    return f"{name + ', ' if name else ''}{fmt(r.get('params'))} params"


def _conditioning(f: str, r: dict[str, Any]) -> str:
    """How family ``f`` takes its class (the run's own options included) and the class accuracy
    it reached, with its interval and sample count."""
    text = card(f).conditioning
    if _get(r, "model_overrides", "class_adaln"):
        text += " + adaLN-Zero class modulation in every block"
    accuracy = _with_interval(r, ("quality", "cond_accuracy"))
    # the FID images (records written before ``samples`` was kept)
    n = _get(r, "quality", "samples") or _get(r, "quality", "fid_samples")
    return f"{text}; class accuracy {accuracy} @{fmt(n)}"


def comparison_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the classic table with measured numbers for each family in ``results``."""
    fams = list(results["families"])
    header = ["", *(card(f).title for f in fams)]
    rows: list[list[str]] = []

    def row(name: str, cell) -> None:
        rows.append([name, *(cell(f, results["families"][f]) for f in fams)])

    row("Architecture", lambda f, r: f"{card(f).architecture}; {_model(r)}")
    row(
        "Generation process",
        lambda f, r: (
            f"{card(f).process}; {fmt(_get(r, 'sampling', 'steps'))} steps "
            f"({_get(r, 'sampling', 'sampler') or 'ancestral'})"
        ),
    )
    row("Attention range", lambda f, r: card(f).attention)
    row("Condition injection", _conditioning)
    row(
        "Training objective",
        lambda f, r: (
            f"{card(f).objective}; {fmt(_get(r, 'nll', 'bits_per_dim'))} bits/dim "
            f"({_get(r, 'nll', 'kind') or 'n/a'})"
        ),
    )
    row(
        "Inference cost",
        lambda f, r: (
            f"{fmt(_get(r, 'cost', 'flops_per_sample'))}FLOP/image, "
            f"{fmt(_get(r, 'sampling', 'latency_s_per_image'))} s/image, "
            f"{fmt(_get(r, 'sampling', 'peak_memory_mb'))} MiB peak tensors per batch"
        ),
    )
    row("Pretraining", lambda f, r: card(f).pretraining)
    row(
        "Best use (measured here)",
        lambda f, r: (
            f"{card(f).best_use}; FID {fmt(_get(r, 'quality', 'fid'))} "
            f"@{fmt(_get(r, 'quality', 'fid_samples'))}"
        ),
    )
    return header, rows


BLANK = "—"  # the cell of a number the results do not hold
INTERVAL = " [95 %]"  # a header's mark that its cells carry a 95 % interval where one was measured

# (header with its unit, path in a family's record, path of the value's standard deviation)
METRIC_COLUMNS: list[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None]] = [
    ("family", None, None),
    ("parameters", ("params",), None),
    ("training speed (images/s)", ("train", "images_per_second"), None),
    ("training images seen", ("train", "images_seen"), None),
    ("training compute (FLOPs)", ("train", "flops"), None),
    ("batch (images)", ("train", "batch_size"), None),
    ("FID at its sample count (reference images held fixed)", ("quality", "fid"), None),
    ("FID samples (images)", ("quality", "fid_samples"), None),
    ("KID ×10³ ± std", ("quality", "kid_x1000"), ("quality", "kid_std_x1000")),
    ("precision (fraction)", ("quality", "precision"), None),
    ("recall (fraction)", ("quality", "recall"), None),
    ("domain FID", ("quality", "domain_fid"), None),
    ("domain FID of as many real images (the floor)", ("quality", "domain_fid_real"), None),
    ("class accuracy (fraction)", ("quality", "cond_accuracy"), None),
    ("NLL (bits/dim)", ("nll", "bits_per_dim"), None),
    ("NFE (network evaluations / image)", ("sampling", "nfe"), None),
    ("sampling time (s / image)", ("sampling", "latency_s_per_image"), None),
    ("sampling peak memory (MiB / batch)", ("sampling", "peak_memory_mb"), None),
]


def _has_interval(record: dict[str, Any], path: tuple[str, ...]) -> bool:
    low = _get(record, *path[:-1], f"{path[-1]}_low")
    high = _get(record, *path[:-1], f"{path[-1]}_high")
    return isinstance(low, int | float) and isinstance(high, int | float)


def _with_interval(record: dict[str, Any], path: tuple[str, ...]) -> str:
    """The value at ``path``, followed by its interval where the record keeps one
    (``<key>_low`` / ``<key>_high`` beside it)."""
    text = fmt(_get(record, *path))
    if text != BLANK and _has_interval(record, path):
        low = _get(record, *path[:-1], f"{path[-1]}_low")
        high = _get(record, *path[:-1], f"{path[-1]}_high")
        text += f" [{fmt(low)}, {fmt(high)}]"
    return text


def _with_std(record: dict[str, Any], path: tuple[str, ...], std: tuple[str, ...]) -> str:
    """The value at ``path`` ± the standard deviation at ``std`` where the record keeps one,
    else its interval (a mean over training seeds keeps its interval over seeds instead)."""
    text = fmt(_get(record, *path))
    spread = _get(record, *std)
    if text != BLANK and isinstance(spread, int | float):
        text += f" ± {fmt(spread)}"
        return text
    return _with_interval(record, path)


def drop_blank_columns(
    header: list[str], rows: list[list[str]], keep: int = 1
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` without the columns that are blank in every row; the first ``keep``
    columns (the row labels) stay."""
    shown = [
        i for i in range(len(header)) if i < keep or any(row[i] not in (BLANK, "") for row in rows)
    ]
    return [header[i] for i in shown], [[row[i] for i in shown] for row in rows]


def metric_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per family with every headline metric the results hold; a column
    no family has is left out, and a column with intervals says so in its header."""
    records = results["families"]
    header, rows = [METRIC_COLUMNS[0][0]], []
    for name, path, _ in METRIC_COLUMNS[1:]:
        interval = any(_has_interval(r, path) for r in records.values())
        header.append(name + (INTERVAL if interval else ""))
    for fam, r in records.items():
        cells = [FAMILY_TITLES.get(fam, fam)]
        cells += [
            _with_std(r, path, std) if std else _with_interval(r, path)
            for _, path, std in METRIC_COLUMNS[1:]
        ]
        rows.append(cells)
    return drop_blank_columns(header, rows)


def training_spent(results: dict[str, Any]) -> str | None:
    """What each family's training got, for the report's header: ``"U-Net diffusion 60k images,
    1.2e+13 FLOPs, 1.5 min; …"``; None for results from before training FLOPs were counted
    (their header stays as it was) or where no family trained here (all reused)."""
    if not any(_get(r, "train", "flops") for r in results["families"].values()):
        return None
    parts = []
    for fam, r in results["families"].items():
        images, flops = _get(r, "train", "images_seen"), _get(r, "train", "flops")
        seconds = _get(r, "train", "seconds")
        got = [
            f"{fmt(images)} images" if images is not None else "",
            f"{flops:.3g} FLOPs" if isinstance(flops, int | float) and flops > 0 else "",
            f"{seconds / 60:.1f} min" if isinstance(seconds, int | float) else "",
        ]
        if any(got):
            parts.append(f"{FAMILY_TITLES.get(fam, fam)} {', '.join(g for g in got if g)}")
    return "; ".join(parts) or None


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- the studies' tables

FLAG = "⚑"
FLAG_NOTE = "timing repeats spread > 20 % after re-measuring"
NOTE = "note"  # the header of the column that says why a row is skipped or flagged
TIMINGS = {"train_step_s": "training step", "sample_step_s": "sampling step"}
"""Timed columns whose row keeps the repeats (``train_step`` …) and may be flagged."""


@dataclass(frozen=True)
class StudyTable:
    """How ``results["studies"][key]`` reads as a table: its title and, per column, the row key
    and the header (with its unit) that people read."""

    key: str
    title: str
    columns: tuple[tuple[str, str], ...]


STUDY_TABLES = (
    StudyTable(
        "nfe",
        "Quality vs NFE",
        (
            ("family", "family"),
            ("sampler", "sampler"),
            ("steps", "steps"),
            ("nfe", "NFE (network evaluations / image)"),
            ("domain_fid", "domain FID"),
            ("samples", "samples (images)"),
            ("seconds", "sampling time (s, all samples)"),
        ),
    ),
    StudyTable(
        "resolution",
        "Scaling with resolution",
        (
            ("family", "family"),
            ("resolution", "resolution (px per side)"),
            ("tokens", "sequence length (tokens)"),
            ("steps", "sampling steps / image"),
            ("train_peak_mb", "training-step peak memory (MiB)"),
            ("sample_peak_mb", "sampling-step peak memory (MiB)"),
            ("train_step_s", "training step (s, median)"),
            ("sample_step_s", "sampling step (s, median)"),
            ("params", "parameters"),
            # records written before the step sweep
            ("latency_s_per_image", "sampling time (s / image)"),
            ("peak_memory_mb", "memory added by sampling (MB, RSS)"),
        ),
    ),
    StudyTable(
        "cfg",
        "Guidance sweep",
        (
            ("family", "family"),
            ("scale", "guidance scale"),
            ("domain_fid", "domain FID"),
            ("domain_fid_real", "domain FID of as many real images (the floor)"),
            ("cond_accuracy", "class accuracy (fraction)"),
            ("samples", "samples (images)"),
        ),
    ),
    StudyTable(
        "receptive_field",
        "Effective receptive field: radius holding 50 % / 90 % of |∂ out(centre) / ∂ in|",
        (
            ("family", "family"),
            ("radius_50_px", "50 % radius (px)"),
            ("radius_90_px", "90 % radius (px)"),
            ("grid", "map size (px)"),
        ),
    ),
    StudyTable(
        "conditioning",
        "DiT condition injection at equal budget",
        (
            ("variant", "variant"),
            ("params", "parameters"),
            ("domain_fid", "domain FID"),
            ("domain_fid_real", "domain FID of as many real images (the floor)"),
            ("cond_accuracy", "class accuracy (fraction)"),
            ("samples", "samples (images)"),
            ("final_loss", "final training loss (MSE per dimension)"),
        ),
    ),
    StudyTable(
        "objective",
        "Flow matching vs diffusion at equal budget (the losses differ in kind)",
        (
            ("variant", "variant"),
            ("domain_fid", "domain FID"),
            ("domain_fid_real", "domain FID of as many real images (the floor)"),
            ("cond_accuracy", "class accuracy (fraction)"),
            ("samples", "samples (images)"),
        ),
    ),
)


def _study_cell(row: dict[str, Any], key: str) -> str:
    """The value of ``row[key]`` with its 95 % interval (``<key>_low`` / ``_high``) and ⚑ when
    its timing's repeats spread too far; a family's title for ``family``."""
    if key == "family":
        return FAMILY_TITLES.get(row.get(key), fmt(row.get(key)))
    text = _with_interval(row, (key,))
    timing = row.get(key.removesuffix("_s")) if key in TIMINGS else None
    if text != BLANK and isinstance(timing, dict) and timing.get("flagged"):
        text += f" {FLAG}"
    return text


def _study_note(row: dict[str, Any]) -> str:
    """Why a row has no numbers (``skipped``), or which of its timings are flagged."""
    if row.get("skipped"):
        return f"skipped: {row['skipped']}"
    flagged = [
        name
        for key, name in TIMINGS.items()
        if isinstance(row.get(key.removesuffix("_s")), dict)
        and row[key.removesuffix("_s")].get("flagged")
    ]
    return f"{FLAG} {' and '.join(flagged)}: {FLAG_NOTE}" if flagged else ""


def study_table(spec: StudyTable, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, cells) of one study: a column blank in every row is left out, a header says
    ``[95 %]`` when its cells carry intervals, and a last ``note`` column (when any row needs
    one) says why a row was skipped or which timing is flagged."""
    header = [
        name + (INTERVAL if any(_has_interval(r, (key,)) for r in rows) else "")
        for key, name in spec.columns
    ]
    cells = [[_study_cell(r, key) for key, _ in spec.columns] for r in rows]
    notes = [_study_note(r) for r in rows]
    if any(notes):
        header.append(NOTE)
        cells = [[*c, note or BLANK] for c, note in zip(cells, notes, strict=True)]
    return drop_blank_columns(header, cells)


def study_tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, cells) of every study ``results`` holds rows for, in report order."""
    studies = results.get("studies", {})
    tables = []
    for spec in STUDY_TABLES:
        rows = [r for r in studies.get(spec.key) or [] if isinstance(r, dict)]
        if rows:
            tables.append((spec.title, *study_table(spec, rows)))
    return tables
