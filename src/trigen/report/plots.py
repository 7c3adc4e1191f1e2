"""Figures of the comparison report (matplotlib, Agg backend; no torch).

Every figure is drawn by :func:`~trigen.report.axes.new_figure` at one size (``FIGSIZE`` at
``DPI``) with one axes, so that the HTML report lays them out as equal cards; each axis names its
unit. The axis mechanics (outlier clipping, log labels) are :mod:`trigen.report.axes`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trigen.families.cards import card
from trigen.report.axes import clip_outliers, new_figure, plain_log_labels, save_figure
from trigen.report.table import FAMILY_TITLES

IMAGES_SEEN = "training images seen"
NFE_LABEL = "NFE (network evaluations per image)"
FID_LABEL = "domain FID (lower is better)"
RESOLUTION_LABEL = "resolution (px per side)"


def loss_curve(family: str, curve: list[list[float]], path: Path) -> Path:
    """One family's training loss against images seen (log y; the unit depends on the family)."""
    fig, ax = new_figure()
    images, loss = np.asarray(curve, dtype=float).T
    ax.plot(images, loss)
    ax.set_xlabel(IMAGES_SEEN)
    ax.set_ylabel(card(family).loss)  # what the loss is: results.json stores the number only
    if (loss > 0).all():
        ax.set_yscale("log")
        plain_log_labels(ax)
    ax.set_title(FAMILY_TITLES.get(family, family), fontsize=10)
    return save_figure(fig, path)


def loss_curves(results: dict[str, Any], out: Path) -> list[tuple[str, Path]]:
    """``(title, path)`` of ``loss_<family>.png`` for every family with a loss curve: one figure
    each, as their losses differ in kind and unit."""
    return [
        (
            f"Training loss: {FAMILY_TITLES.get(fam, fam)}",
            loss_curve(fam, r["train"]["loss_curve"], out / f"loss_{fam}.png"),
        )
        for fam, r in results["families"].items()
        if r.get("train", {}).get("loss_curve")
    ]


def _lines(
    rows: list[dict[str, Any]], key: str, x: str, y: str, ax, label_fmt: Callable = str
) -> list[tuple[float, float, Any]]:
    """One line per value of ``rows[key]``; returns the plotted (x, y, colour) points."""
    points = []
    for name in sorted({r[key] for r in rows}):
        pts = sorted((r[x], r[y]) for r in rows if r[key] == name and r.get(y) is not None)
        if pts:
            xs, ys = zip(*pts, strict=True)
            (line,) = ax.plot(xs, ys, marker="o", label=label_fmt(name))
            points += [(px, py, line.get_color()) for px, py in pts]
    return points


def quality_vs_nfe(
    rows: list[dict[str, Any]], path: Path, metric: str = "domain_fid"
) -> Path | None:
    """One line per (family, sampler): quality metric against the number of network evaluations,
    log x; a sampler that fails at few steps is clipped off the top rather than flattening the
    others."""
    if not rows:
        return None
    rows = [{**r, "_line": f"{r['family']} {r['sampler']}"} for r in rows]
    fig, ax = new_figure()
    points = _lines(rows, "_line", "nfe", metric, ax)
    ax.set_xscale("log")
    ax.set_xlabel(NFE_LABEL)
    ax.set_ylabel(FID_LABEL if metric == "domain_fid" else metric.replace("_", " "))
    ax.legend(fontsize=7)
    clip_outliers(ax, points, log=False)
    return save_figure(fig, path)


RESOLUTION_PANELS = (  # (file stem, training-step key, sampling-step key, title, y label)
    (
        "memory",
        "train_peak_mb",
        "sample_peak_mb",
        "Peak tensor memory of one step",
        "peak tensor memory (MiB)",
    ),
    ("time", "train_step_s", "sample_step_s", "Time of one step", "time per step (s, median)"),
)


def _log_resolution_axes(ax, sides: list[int], ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sides, [str(side) for side in sides])
    ax.minorticks_off()
    ax.set_xlabel(RESOLUTION_LABEL)
    ax.set_ylabel(ylabel)
    plain_log_labels(ax)


def scaling_vs_resolution(rows: list[dict[str, Any]], out: Path) -> list[tuple[str, Path]]:
    """Peak memory, and time, of one training step (solid) and one sampling step (dashed) against
    resolution, one colour per family, log-log, one figure each; skipped points are left out."""
    if rows and not any("train_peak_mb" in r for r in rows):
        return _legacy_scaling_vs_resolution(rows, out)
    rows = [r for r in rows if r.get("train_peak_mb") is not None]
    if not rows:
        return []
    sides = sorted({r["resolution"] for r in rows})
    made = []
    for stem, train, sample, title, ylabel in RESOLUTION_PANELS:
        fig, ax = new_figure()
        for i, fam in enumerate(sorted({r["family"] for r in rows})):
            pts = sorted((r for r in rows if r["family"] == fam), key=lambda r: r["resolution"])
            xs, name = [r["resolution"] for r in pts], FAMILY_TITLES.get(fam, fam)
            ax.plot(xs, [r[train] for r in pts], "o-", color=f"C{i}", label=f"{name}: training")
            ax.plot(xs, [r[sample] for r in pts], "s--", color=f"C{i}", label=f"{name}: sampling")
        _log_resolution_axes(ax, sides, ylabel)
        ax.legend(fontsize=7)
        made.append((f"{title} vs resolution", save_figure(fig, out / f"{stem}_resolution.png")))
    return made


def _legacy_scaling_vs_resolution(rows: list[dict[str, Any]], out: Path) -> list[tuple[str, Path]]:
    """The figures of a results.json written before the step sweep: whole-sampling latency per
    image and the process-RSS memory it added."""

    def title(family: str) -> str:
        return FAMILY_TITLES.get(family, family)

    made = []
    for stem, key, name, ylabel in (
        ("latency", "latency_s_per_image", "Sampling latency", "sampling latency (s per image)"),
        ("memory", "peak_memory_mb", "Memory added by sampling", "memory added (MB, RSS)"),
    ):
        fig, ax = new_figure()
        _lines(rows, "family", "resolution", key, ax, title)
        _log_resolution_axes(ax, sorted({r["resolution"] for r in rows}), ylabel)
        ax.legend(fontsize=7)
        made.append((f"{name} vs resolution", save_figure(fig, out / f"{stem}_resolution.png")))
    return made


CFG_PANELS = (  # (file stem, key, title, y label)
    ("cfg_fid", "domain_fid", "Guidance sweep: quality", FID_LABEL),
    (
        "cfg_accuracy",
        "cond_accuracy",
        "Guidance sweep: class accuracy",
        "class accuracy (fraction of samples)",
    ),
)


def cfg_sweep(rows: list[dict[str, Any]], out: Path) -> list[tuple[str, Path]]:
    """Quality (domain FID) and class accuracy against the guidance scale, one figure each."""
    if not rows:
        return []
    made = []
    for stem, key, title, ylabel in CFG_PANELS:
        fig, ax = new_figure()
        points = _lines(rows, "family", "scale", key, ax, lambda f: FAMILY_TITLES.get(f, f))
        ax.set_xlabel("guidance scale (dimensionless)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        if key == "domain_fid":  # accuracy is bounded in [0, 1]: nothing to flatten
            clip_outliers(ax, points, log=False)
        made.append((title, save_figure(fig, out / f"{stem}.png")))
    return made


RF_GAMMA = 0.25


def receptive_fields(maps: dict[str, np.ndarray], path: Path) -> Path | None:
    """|∂ output(centre) / ∂ input| maps, one panel per family (normalised to max 1, shown as
    value^RF_GAMMA so that weak but non-zero dependence stays visible), at the report's size."""
    if not maps:
        return None
    fig, axes = new_figure(len(maps))
    axes = axes if isinstance(axes, list) else [axes]
    for i, (ax, (name, m)) in enumerate(zip(axes, maps.items(), strict=True)):
        # a power scale: the map spans orders of magnitude and linear colour shows only its peak
        ax.imshow(np.asarray(m) ** RF_GAMMA, cmap="magma", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("input x (px)", fontsize=8)
        if i == 0:
            ax.set_ylabel("input y (px)", fontsize=8)
        ax.tick_params(labelsize=7)
    return save_figure(fig, path)
