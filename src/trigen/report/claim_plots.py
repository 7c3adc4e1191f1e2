"""The small plot of a claim, drawn from its ``details["series"]`` (lines with error bars);
malformed series draw nothing. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from trigen.report.axes import (
    clip_outliers,
    new_figure,
    plain_log_labels,
    save_figure,
    sparse_log_ticks,
)
from trigen.report.table import fmt

MAX_X_TICKS = 10  # up to this many distinct x values each get a tick on a log axis


@dataclass(frozen=True)
class Series:
    """One line of a claim's plot; ``low``/``high`` bound the error bar at each point."""

    label: str
    x: np.ndarray
    y: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    xlabel: str
    ylabel: str
    logx: bool
    logy: bool


def _numbers(value: Any, n: int | None = None) -> np.ndarray | None:
    """A finite float array from a JSON list of numbers (of length ``n`` if given), else None."""
    if not isinstance(value, list) or not value or (n is not None and len(value) != n):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except OverflowError:  # a JSON integer beyond float range
        return None
    return arr if np.isfinite(arr).all() else None


def parse_series(details: Any) -> list[Series] | None:
    """The series of ``details["series"]``, or None when it is missing or any part is malformed."""
    raw = details.get("series") if isinstance(details, dict) else None
    if not isinstance(raw, list) or not raw:
        return None
    out = []
    for s in raw:
        if not isinstance(s, dict):
            return None
        x, y = _numbers(s.get("x")), _numbers(s.get("y"))
        if x is None or y is None or len(x) != len(y):
            return None
        bounds = []
        for key in ("low", "high"):
            b = None if s.get(key) is None else _numbers(s.get(key), len(y))
            if s.get(key) is not None and b is None:
                return None
            bounds.append(b)
        out.append(
            Series(
                label=str(s.get("label") or ""),
                x=x,
                y=y,
                low=bounds[0],
                high=bounds[1],
                xlabel=str(s.get("xlabel") or ""),
                ylabel=str(s.get("ylabel") or ""),
                logx=s.get("logx") is True,
                logy=s.get("logy") is True,
            )
        )
    return out


def _draw_series(ax, series: list[Series], title: str) -> None:
    points = []
    for s in series:
        low = s.y if s.low is None else s.low
        high = s.y if s.high is None else s.high
        yerr = np.maximum(np.stack([s.y - low, high - s.y]), 0.0)
        has_bars = s.low is not None or s.high is not None
        bars = ax.errorbar(
            s.x,
            s.y,
            yerr=yerr if has_bars else None,
            marker="o",
            capsize=3,
            label=s.label or None,
            elinewidth=1,
            alpha=0.85,
        )
        colour = bars.lines[0].get_color()
        points += [(float(x), float(y), colour) for x, y in zip(s.x, s.y, strict=True)]
    first = series[0]
    ax.set_xlabel(first.xlabel)
    ax.set_ylabel(first.ylabel)
    ax.set_title(title, fontsize=10)
    if first.logx and all((s.x > 0).all() for s in series):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short axis
        xs = sparse_log_ticks(np.concatenate([s.x for s in series]))
        if len(xs) <= MAX_X_TICKS:  # label the measured points (resolutions, NFEs) themselves
            ax.set_xticks(xs, [fmt(float(v)) for v in xs])
    logy = first.logy and all((s.y > 0).all() for s in series)
    if logy:
        ax.set_yscale("log")
    if any(s.label for s in series):
        ax.legend(fontsize=7)
    clip_outliers(ax, points, log=logy)  # e.g. a sampler that fails at few steps
    if logy:
        plain_log_labels(ax)


def series_plot(series: list[Series], title: str, path: Path) -> Path | None:
    """A small line plot with error bars, axes labelled (and logged) as the first series says;
    None when matplotlib cannot draw the values (e.g. a range near the float limits).

    A log axis is used only when every plotted value on it is positive.
    """
    fig, ax = new_figure()
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            _draw_series(ax, series, title)
            return save_figure(fig, path)
    except (ValueError, OverflowError, RuntimeError):  # ticks or limits it cannot compute
        return None
    finally:
        plt.close(fig)
