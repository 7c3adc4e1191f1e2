"""The report's figure and axis mechanics (matplotlib, Agg backend; no torch): one figure size,
outliers clipped off a flattened axis with their values marked at the edge, error bars kept off
the frame, plain labels on log axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.container import ErrorbarContainer
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import offset_copy

from trigen.atomic import atomic_write
from trigen.report.table import fmt

FIGSIZE = (6.4, 4.0)  # inches, every report figure: the HTML grid's cards then line up
DPI = 100  # → 640 × 400 px, about the width of a card in the two-column grid
OUTLIER_FENCE = 3.0  # interquartile ranges above the upper quartile at which a point is clipped
FLATTEN_RATIO = 3.0  # clip when the outliers would squeeze the other points to < 1/3 of the axis
MIN_POINTS_TO_CLIP = 5  # too few points to call any of them an outlier
CLIP_HEADROOM = 0.12  # of the kept span, left at each end of a clipped axis for the ▲▼ marks
MINOR_LABEL_DECADES = (0.8, 2.5)  # log-axis spans under which all / the 2× and 5× minor ticks
# are labelled (a longer one has enough powers of ten)
MIN_TICK_GAP = 0.12  # decades between labelled ticks on a log axis
CLIP_NOTE = "▲▼ off the scale (value shown)"
BAR_NOTE = "˄˅ interval runs on past the edge"
EDGE_MARGIN = 0.03  # of the axis height: where ▲▼ sit and cut error bars end, inside the frame
OFF_SCALE_STEP = 9.0  # points between the ▲ of clipped points at one x


def new_figure(ncols: int = 1):
    """``(fig, axes)`` at the report's one size; ``axes`` is one Axes, or a list for ncols > 1."""
    fig, axes = plt.subplots(1, ncols, figsize=FIGSIZE, dpi=DPI, squeeze=False)
    return fig, (axes[0, 0] if ncols == 1 else list(axes[0]))


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (PNG at ``DPI``, atomically) and close it."""
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI), suffix=".png")
    finally:
        plt.close(fig)


def _scale(values: np.ndarray, log: bool) -> np.ndarray:
    return np.log10(values) if log else values


def _unscale(value: float, log: bool) -> float:
    return float(10**value) if log else float(value)


def clip_outliers(ax, points: list[tuple[float, float, Any]], log: bool) -> int:
    """Narrow the y-axis to Tukey's far-out fences of the points (x, y, colour), in the axis's
    scale (log10 on a log axis), when the points beyond them would squeeze the others into under
    ``1 / FLATTEN_RATIO`` of the axis. Each clipped point leaves its line and error bar and
    becomes a ▲ (▼) inside the top (bottom) edge labelled with its value; the lines end at the
    last point on the scale. Then no line runs to an edge (:func:`keep_bars_off_the_edges`).
    Returns how many points were clipped."""
    off = _off_scale(ax, points, log)
    if off:
        _hide(ax, off)
        _mark_off_scale(ax, off)
    trimmed = keep_bars_off_the_edges(ax)
    notes = ([CLIP_NOTE] if off else []) + ([BAR_NOTE] if trimmed else [])
    if notes:
        legend = ax.get_legend()
        if legend is not None:  # the note heads the legend, which "best" placement keeps clear
            legend.set_title("\n".join(notes), prop={"size": 7})
        else:
            ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes, fontsize=7, color="#555")
    return len(off)


def _off_scale(
    ax, points: list[tuple[float, float, Any]], log: bool
) -> list[tuple[float, float, Any, bool]]:
    """Set the y limits to the points within the fences when the others would flatten them;
    the clipped points as (x, y, colour, above)."""
    ys = np.asarray([p[1] for p in points], dtype=float)
    if len(ys) < MIN_POINTS_TO_CLIP or (log and (ys <= 0).any()):
        return []
    v = _scale(ys, log)
    q1, q3 = np.percentile(v, [25, 75])
    low_fence, high_fence = q1 - OUTLIER_FENCE * (q3 - q1), q3 + OUTLIER_FENCE * (q3 - q1)
    kept = v[(v >= low_fence) & (v <= high_fence)]
    span = np.ptp(kept) if len(kept) else 0.0
    if len(kept) == len(v) or span <= 0 or np.ptp(v) < FLATTEN_RATIO * span:
        return []
    ends = _scale(_bar_ends(ax, log), log)  # the kept points' error bars fit too
    shown = np.concatenate([kept, ends[(ends >= low_fence) & (ends <= high_fence)]])
    lo, hi = shown.min(), shown.max()
    pad = CLIP_HEADROOM * (hi - lo)
    ax.set_ylim(_unscale(lo - pad, log), _unscale(hi + pad, log))
    return [
        (x, y, colour, bool(vy > high_fence))
        for (x, y, colour), vy in zip(points, v, strict=True)
        if not low_fence <= vy <= high_fence
    ]


def _bar_ends(ax, log: bool) -> np.ndarray:
    """Both ends of every vertical error bar drawn on ``ax`` (the positive ones on a log axis)."""
    ends = [
        seg[i][1]
        for container in ax.containers
        if isinstance(container, ErrorbarContainer) and container.has_yerr
        for bars in container.lines[2]
        for seg in bars.get_segments()
        for i in (0, 1)
    ]
    ends = np.asarray(ends, dtype=float)
    return ends[ends > 0] if log else ends


def _hide(ax, off: list[tuple[float, float, Any, bool]]) -> None:
    """Take the clipped points out of their lines (a NaN breaks a line) and drop their bars."""
    for line in ax.lines:
        xs = np.asarray(line.get_xdata(), dtype=float)
        ys = np.asarray(line.get_ydata(), dtype=float).copy()
        for x, y, _, _ in off:
            ys[(xs == x) & (ys == y)] = np.nan
        line.set_ydata(ys)
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer) and container.has_yerr:
            data_line = container.lines[0]
            xs = np.asarray(data_line.get_xdata(), dtype=float)
            gone = {float(x) for x in xs[np.isnan(np.asarray(data_line.get_ydata(), float))]}
            for bars in container.lines[2]:
                bars.set_segments(
                    [seg for seg in bars.get_segments() if float(seg[0][0]) not in gone]
                )


def _mark_off_scale(ax, off: list[tuple[float, float, Any, bool]]) -> None:
    """A ▲ (▼) just inside the top (bottom) edge at each clipped point's x, in its colour; the
    points of one x stand side by side, their values listed beside them, largest first."""
    at_edge = ax.get_xaxis_transform()  # x in data, y in axes fractions
    count: dict[tuple[float, bool], int] = {}
    for x, _, _, above in off:
        count[(x, above)] = count.get((x, above), 0) + 1
    side: dict[tuple[float, bool], int] = {}
    for x, y, colour, above in sorted(off, key=lambda p: -abs(p[1])):
        k = side[(x, above)] = side.get((x, above), -1) + 1
        height = 1 - EDGE_MARGIN if above else EDGE_MARGIN
        shift = offset_copy(at_edge, fig=ax.figure, x=OFF_SCALE_STEP * k, units="points")
        ax.plot([x], [height], "^" if above else "v", color=colour, markersize=7, transform=shift)
        right = OFF_SCALE_STEP * (count[(x, above)] - 1) + 6
        ax.annotate(
            fmt(float(y)),
            (x, height),
            xycoords=at_edge,
            xytext=(right, (-4 - OFF_SCALE_STEP * k) if above else (-2 + OFF_SCALE_STEP * k)),
            textcoords="offset points",
            fontsize=7,
            color=colour,
        )


def keep_bars_off_the_edges(ax) -> int:
    """End every error bar that runs past the y limits ``EDGE_MARGIN`` inside the edge, with a
    small caret that says it runs on (a bar to the frame reads as a line of the plot, and a
    lower end of 0 has nowhere to end on a log axis). Fixes the current limits; returns how many
    bars it shortened."""
    bottom, top = ax.get_ylim()
    log = ax.get_yscale() == "log"
    ax.set_ylim(bottom, top)
    lo_axis, hi_axis = np.log10([bottom, top]) if log else (bottom, top)
    margin = EDGE_MARGIN * (hi_axis - lo_axis)
    floor, ceiling = _unscale(lo_axis + margin, log), _unscale(hi_axis - margin, log)
    trimmed = 0
    for container in ax.containers:
        if not (isinstance(container, ErrorbarContainer) and container.has_yerr):
            continue
        for bars in container.lines[2]:
            colour = bars.get_colors()[0] if len(bars.get_colors()) else "k"
            kept = []
            for seg in bars.get_segments():
                (x, y0), (_, y1) = seg
                low, high = min(y0, y1), max(y0, y1)
                if high < floor or low > ceiling:
                    continue  # wholly off the scale: its point says so
                ends = []
                if low < floor:
                    low, ends = floor, [*ends, (floor, 7)]  # CARETDOWN: it runs on below
                if high > ceiling:
                    high, ends = ceiling, [*ends, (ceiling, 6)]  # CARETUP: … above
                for end, marker in ends:
                    ax.plot([x], [end], marker=marker, color=colour, markersize=4)
                trimmed += bool(ends)
                kept.append([[x, low], [x, high]])
            bars.set_segments(kept)
        for cap in container.lines[1]:  # a cap beyond the limits would sit on the frame
            ys = np.asarray(cap.get_ydata(), dtype=float).copy()
            ys[(ys < floor) | (ys > ceiling)] = np.nan
            cap.set_ydata(ys)
    ax.set_ylim(bottom, top)
    return trimmed


def _tick_text(v: float) -> str:
    return fmt(float(v)) if abs(v) >= 1e4 else f"{v:.6g}"


def plain_log_labels(ax) -> None:
    """Label a log y-axis 20, 30, 50 rather than 2×10¹; call it once the limits are set. Minor
    ticks get labels too on a short axis: all of them under ``MINOR_LABEL_DECADES[0]`` decades,
    those at 2× and 5× a power of ten under ``MINOR_LABEL_DECADES[1]``."""
    bottom, top = ax.get_ylim()
    decades = np.log10(top / bottom) if bottom > 0 else np.inf
    every, some = MINOR_LABEL_DECADES

    def minor(v: float, _) -> str:
        mantissa = round(v / 10 ** np.floor(np.log10(v)), 6) if v > 0 else 0
        return _tick_text(v) if decades < every or (decades < some and mantissa in (2, 5)) else ""

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def sparse_log_ticks(values: np.ndarray, min_gap: float = MIN_TICK_GAP) -> np.ndarray:
    """The values to label on a log axis: in increasing order, each at least ``min_gap`` decades
    after the last one kept (9 and 10 would print over each other), the largest always kept."""
    kept: list[float] = []
    for x in np.unique(values)[::-1]:
        if not kept or np.log10(kept[-1]) - np.log10(x) >= min_gap:
            kept.append(float(x))
    return np.asarray(kept[::-1])
