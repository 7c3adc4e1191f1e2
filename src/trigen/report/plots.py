"""Figures of the comparison report (matplotlib, Agg backend; no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from trigen.atomic import atomic_write
from trigen.report.table import FAMILY_TITLES


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    finally:
        plt.close(fig)


def loss_curves(results: dict[str, Any], path: Path) -> Path | None:
    """Training loss vs images seen, one panel per family (their losses differ in kind)."""
    fams = [
        (f, r["train"]["loss_curve"])
        for f, r in results["families"].items()
        if r.get("train", {}).get("loss_curve")
    ]
    if not fams:
        return None
    fig, axes = plt.subplots(1, len(fams), figsize=(3.6 * len(fams), 3), squeeze=False)
    for ax, (fam, curve) in zip(axes[0], fams, strict=True):
        images, loss = np.asarray(curve, dtype=float).T
        ax.plot(images, loss)
        ax.set_title(FAMILY_TITLES.get(fam, fam), fontsize=9)
        ax.set_xlabel("images seen")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")
    return _save(fig, path)


def _lines(rows: list[dict[str, Any]], key: str, x: str, y: str, ax, label_fmt=str) -> None:
    for name in sorted({r[key] for r in rows}):
        pts = sorted((r[x], r[y]) for r in rows if r[key] == name and r.get(y) is not None)
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="o", label=label_fmt(name))


def quality_vs_nfe(
    rows: list[dict[str, Any]], path: Path, metric: str = "domain_fid"
) -> Path | None:
    """One line per (family, sampler): quality metric against the number of network evaluations."""
    if not rows:
        return None
    for r in rows:
        r["_line"] = f"{r['family']} {r['sampler']}"
    fig, ax = plt.subplots(figsize=(5, 3.5))
    _lines(rows, "_line", "nfe", metric, ax)
    ax.set_xscale("log")
    ax.set_xlabel("network evaluations per image (NFE)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=7)
    return _save(fig, path)


RESOLUTION_PANELS = (  # (training-step key, sampling-step key, y label) per panel
    ("train_peak_mb", "sample_peak_mb", "peak memory of tensors (MiB)"),
    ("train_step_s", "sample_step_s", "time per step (s, median)"),
)


def scaling_vs_resolution(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Peak memory and time of one training step (solid) and one sampling step (dashed) against
    resolution, one colour per family, log-log; skipped points are left out."""
    if rows and not any("train_peak_mb" in r for r in rows):
        return _legacy_scaling_vs_resolution(rows, path)
    rows = [r for r in rows if r.get("train_peak_mb") is not None]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for i, fam in enumerate(sorted({r["family"] for r in rows})):
        pts = sorted((r for r in rows if r["family"] == fam), key=lambda r: r["resolution"])
        xs, title = [r["resolution"] for r in pts], FAMILY_TITLES.get(fam, fam)
        for ax, (train, sample, _) in zip(axes, RESOLUTION_PANELS, strict=True):
            ax.plot(xs, [r[train] for r in pts], "o-", color=f"C{i}", label=f"{title}: training")
            ax.plot(xs, [r[sample] for r in pts], "s--", color=f"C{i}", label=f"{title}: sampling")
    sides = sorted({r["resolution"] for r in rows})
    for ax, (_, _, label) in zip(axes, RESOLUTION_PANELS, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sides, [str(side) for side in sides])
        ax.minorticks_off()
        ax.set_xlabel("resolution (pixels per side)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=6)
    return _save(fig, path)


def _legacy_scaling_vs_resolution(rows: list[dict[str, Any]], path: Path) -> Path:
    """The figure of a results.json written before the step sweep: whole-sampling latency per
    image and the process-RSS memory it added."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))

    def title(family: str) -> str:
        return FAMILY_TITLES.get(family, family)

    _lines(rows, "family", "resolution", "latency_s_per_image", a, title)
    _lines(rows, "family", "resolution", "peak_memory_mb", b, title)
    for ax, label in ((a, "sampling latency (s / image)"), (b, "memory added by sampling (MB)")):
        ax.set_xlabel("resolution (pixels per side)")
        ax.set_ylabel(label)
        ax.set_yscale("log")
    a.legend(fontsize=7)
    return _save(fig, path)


def cfg_sweep(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Quality (domain FID) and class accuracy against the guidance scale."""
    if not rows:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    _lines(rows, "family", "scale", "domain_fid", a, lambda f: FAMILY_TITLES.get(f, f))
    _lines(rows, "family", "scale", "cond_accuracy", b, lambda f: FAMILY_TITLES.get(f, f))
    a.set_ylabel("domain FID")
    b.set_ylabel("class accuracy")
    for ax in (a, b):
        ax.set_xlabel("guidance scale")
    a.legend(fontsize=7)
    return _save(fig, path)


RF_GAMMA = 0.25


def receptive_fields(maps: dict[str, np.ndarray], path: Path) -> Path | None:
    """|∂ output(centre) / ∂ input| maps, one panel per family (normalised to max 1, shown as
    value^RF_GAMMA so that weak but non-zero dependence stays visible)."""
    if not maps:
        return None
    fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps), 2.8), squeeze=False)
    for ax, (name, m) in zip(axes[0], maps.items(), strict=True):
        # a power scale: the map spans orders of magnitude and linear colour shows only its peak
        ax.imshow(np.asarray(m) ** RF_GAMMA, cmap="magma", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)
