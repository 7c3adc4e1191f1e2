"""The report's table of training seeds: each family's headline numbers per seed, beside their
mean and t interval over seeds (``families.<family>.across_seeds`` of ``results.json``, written by
``trigen.compare.seeds``). No torch."""

from __future__ import annotations

from typing import Any

from trigen.report.table import BLANK, FAMILY_TITLES, fmt

TITLE = "Training seeds"
INTRO = (
    "Each family trained once per seed (the base --seed, then + 1 each); the headline numbers "
    "above are the mean over seeds with a t 95 % interval over seeds (n − 1 degrees of freedom), "
    "computed from the per-seed values below, which results.json keeps under "
    "families.<family>.seeds."
)
LABELS = {  # across_seeds metric → its label in the table
    "quality.fid": "FID",
    "quality.kid_x1000": "KID ×10³",
    "quality.precision": "precision",
    "quality.recall": "recall",
    "quality.domain_fid": "domain FID",
    "quality.cond_accuracy": "class accuracy",
    "quality.confidence": "classifier confidence",
    "nll.bits_per_dim": "NLL (bits/dim)",
    "train.final_loss": "final training loss",
    "train.images_seen": "training images seen",
    "train.flops": "training compute (FLOPs)",
    "train.images_per_second": "training speed (images/s)",
    "train.seconds": "training time (s)",
    "sampling.latency_s_per_image": "sampling time (s / image)",
}


def _seeds(record: Any) -> list[Any]:
    across = record.get("across_seeds") if isinstance(record, dict) else None
    seeds = across.get("seeds") if isinstance(across, dict) else None
    return seeds if isinstance(seeds, list) else []


def seed_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows): one row per family and headline number, its value for each training seed
    and the mean [interval over seeds]; None when no family trained on two or more seeds."""
    families = results.get("families")
    if not isinstance(families, dict):
        return None
    seeds = max((_seeds(r) for r in families.values()), key=len, default=[])
    if len(seeds) < 2:
        return None
    header = ["family", "metric", *(f"seed {s}" for s in seeds), "mean [t 95 % over seeds]"]
    rows = []
    for family, record in families.items():
        metrics = record.get("across_seeds", {}).get("metrics", {}) if _seeds(record) else {}
        for key, m in metrics.items():
            if not isinstance(m, dict):
                continue
            values = [fmt(v) for v in m.get("values", [])]
            values += [BLANK] * (len(seeds) - len(values))
            mean = fmt(m.get("mean"))
            if m.get("low") is not None and m.get("high") is not None:
                mean += f" [{fmt(m['low'])}, {fmt(m['high'])}]"
            rows.append([FAMILY_TITLES.get(family, family), LABELS.get(key, key), *values, mean])
    return header, rows
