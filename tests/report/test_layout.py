"""The report's figures read as one set: each drawn at the same pixel size, laid out as cards in
the HTML grid, every axis labelled, and a single failure clipped rather than flattening the rest."""

import copy
import struct
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from trigen.report import axes, plots
from trigen.report.render import FIGURE_GRID

from .test_claims_report import _render, _results_with_claims

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, path
    return struct.unpack(">II", head[16:24])


def _results() -> dict:
    """Claims with series, and every study, the resolution one in its step-sweep form."""
    results = copy.deepcopy(_results_with_claims())
    results["studies"]["resolution"] = [
        {
            "family": f,
            "resolution": r,
            "train_peak_mb": r * 2.0,
            "sample_peak_mb": r * 0.5,
            "train_step_s": r * 0.01,
            "sample_step_s": r * 0.001,
        }
        for f in ("unet", "dit")
        for r in (16, 32, 64)
    ]
    return results


class _Cards(HTMLParser):
    """For each <img>: the classes of the <div>s and <figure>s that hold it, innermost last."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.imgs: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append([f"{t}.{c}" for t, c in self.stack])
        elif tag in ("div", "figure", "section"):
            self.stack.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag):
        if tag in ("div", "figure", "section"):
            assert self.stack.pop()[0] == tag


def test_every_figure_the_render_draws_has_one_pixel_size(tmp_path):
    render_dir = tmp_path / "report"
    _render(tmp_path, _results())
    own = {"own_figure.png"}  # the run's own figure, not drawn by the render
    drawn = [p for p in render_dir.glob("*.png") if p.name not in own]
    assert len(drawn) >= 3 + 1 + 2 + 2 + 3  # losses, NFE, resolution, guidance, claim series
    expected = tuple(round(side * axes.DPI) for side in axes.FIGSIZE)
    assert {p.name: _png_size(p) for p in drawn} == {p.name: expected for p in drawn}


def test_html_puts_every_figure_in_a_card_of_a_grid(tmp_path):
    _, page = _render(tmp_path, _results())
    parser = _Cards()
    parser.feed(page)
    assert parser.imgs and not parser.stack
    for holders in parser.imgs:
        assert holders[-1] == "figure.card"  # each image is a card with its title
        grid = holders[-2]
        assert grid in (f"div.{FIGURE_GRID}", "div.samples", "div.claim-body")
    in_grid = sum(h[-2] == f"div.{FIGURE_GRID}" for h in parser.imgs)
    assert in_grid == 3 + 1 + 2 + 2  # the study figures
    # responsive: as many columns of at least a card's width as fit (two wide, one narrow)
    assert f".{FIGURE_GRID},.samples{{display:grid" in page and "auto-fill" in page


def test_figure_section_follows_the_samples_and_claims_keep_their_order(tmp_path):
    md, page = _render(tmp_path, _results())
    assert page.index("<h2>Samples</h2>") < page.index("<h2>Figures</h2>")
    assert page.index(f'<div class="{FIGURE_GRID}">') > page.index("<h2>Figures</h2>")
    assert "![Training loss: U-Net diffusion](report/loss_unet.png)" in md


def test_every_axis_of_a_study_figure_is_labelled(tmp_path, monkeypatch):
    labels = []
    save = plots.save_figure

    def record(fig, path):
        labels.extend((ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", record)
    (tmp_path / "report").mkdir()
    results = _results()
    studies = results["studies"]
    plots.loss_curves(results, tmp_path)
    plots.quality_vs_nfe(studies["nfe"], tmp_path / "nfe.png")
    plots.scaling_vs_resolution(studies["resolution"], tmp_path)
    plots.cfg_sweep(studies["cfg"], tmp_path)
    assert len(labels) == 3 + 1 + 2 + 2
    assert all(x and y for x, y in labels), labels
    units = ("(", "images seen")
    assert all(any(u in x for u in units) and "(" in y for x, y in labels), labels


def _clipped_axes(ys: list[float], log: bool):
    fig, ax = plt.subplots()
    xs = np.arange(1, len(ys) + 1, dtype=float)
    ax.plot(xs, ys, "o-")
    if log:
        ax.set_yscale("log")
    n = axes.clip_outliers(ax, [(x, y, "C0") for x, y in zip(xs, ys, strict=True)], log)
    limits = ax.get_ylim()
    plt.close(fig)
    return n, limits


def test_a_single_failure_is_clipped_and_the_rest_fill_the_axis():
    rest = [60.0, 62.0, 63.0, 64.0, 65.0, 66.0, 70.0, 75.0]
    for log in (False, True):
        n, (bottom, top) = _clipped_axes([*rest, 330.0], log)
        assert n == 1
        assert bottom <= min(rest) and max(rest) <= top < 330.0
        kept = np.log10(max(rest) / min(rest)) if log else max(rest) - min(rest)
        shown = np.log10(top / bottom) if log else top - bottom
        assert kept / shown > 0.5  # the kept points span most of the axis


def test_the_clipping_note_heads_the_legend_instead_of_lying_under_it():
    fig, ax = plt.subplots()
    ys = [60.0, 62.0, 63.0, 64.0, 65.0, 66.0, 70.0, 75.0, 330.0]
    ax.plot(range(len(ys)), ys, "o-", label="heun")
    ax.legend()
    assert axes.clip_outliers(ax, [(float(x), y, "C0") for x, y in enumerate(ys)], False) == 1
    assert ax.get_legend().get_title().get_text() == axes.CLIP_NOTE
    assert axes.CLIP_NOTE not in [t.get_text() for t in ax.texts]  # not a second, loose text
    plt.close(fig)


def test_points_without_outliers_keep_their_limits():
    evenly = {False: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], True: [1.0, 10.0, 100.0, 1e3, 1e4]}
    for log, ys in evenly.items():  # evenly spread in the axis's scale
        assert _clipped_axes(ys, log)[0] == 0
        assert _clipped_axes([5.0] * 6, log)[0] == 0


def test_sparse_log_ticks_keep_apart_and_keep_the_largest():
    xs = np.array([5, 9, 10, 19, 20, 49, 50, 249, 250], dtype=float)
    ticks = axes.sparse_log_ticks(xs)
    assert ticks[-1] == 250 and set(ticks) <= set(xs)
    assert (np.diff(np.log10(ticks)) >= axes.MIN_TICK_GAP).all()
    assert len(ticks) == 5  # 5, 10, 20, 50, 250


def _inside(ax) -> bool:
    """Whether every line point and error-bar end drawn in data coordinates (the ▲ marks stand
    in axes fractions) lies strictly inside the y limits."""
    bottom, top = ax.get_ylim()
    in_data = [line for line in ax.lines if line.get_transform() == ax.transData]
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in in_data]
    ys += [
        np.asarray([seg[:, 1] for seg in bars.get_segments()], dtype=float).ravel()
        for c in ax.containers
        for bars in c.lines[2]
    ]
    values = np.concatenate(ys)
    values = values[np.isfinite(values)]
    return bool(((values > bottom) & (values < top)).all())


def test_no_line_runs_to_a_clipped_edge_and_off_scale_values_are_written():
    """A sampler failing at few steps (296 among 46–56), and a bar down to 0 on a log axis: the
    failing point leaves its line, a ▲ inside the frame carries its value, and every line and
    bar ends inside the limits."""
    for log in (False, True):
        fig, ax = plt.subplots()
        xs = np.array([5.0, 10.0, 20.0, 50.0, 250.0])
        series = {"ddim": [50.0, 48.0, 47.0, 46.0, 46.0], "heun": [296.0, 56.0, 52.0, 50.0, 49.0]}
        points = []
        for name, ys in series.items():
            ys = np.asarray(ys)
            low = ys - 3.0
            low[1] = 0.0  # an interval down to 0: nowhere to end on a log axis
            bars = ax.errorbar(xs, ys, yerr=[ys - low, np.full(5, 3.0)], marker="o", label=name)
            points += [(x, y, bars.lines[0].get_color()) for x, y in zip(xs, ys, strict=True)]
        if log:
            ax.set_yscale("log")
        ax.legend()
        assert axes.clip_outliers(ax, points, log) == 1
        assert _inside(ax), log
        texts = [t.get_text() for t in ax.texts]
        assert "296" in texts
        bottom, top = ax.get_ylim()
        assert top < 296 and bottom < 43 < 59 < top  # the other points and their bars fit
        title = ax.get_legend().get_title().get_text()
        assert axes.CLIP_NOTE in title and axes.BAR_NOTE in title
        plt.close(fig)


def test_bars_without_clipping_stop_inside_the_frame():
    fig, ax = plt.subplots()
    ax.errorbar([1.0, 2.0, 3.0], [30.0, 35.0, 40.0], yerr=[[30.0, 35.0, 40.0], [1.0, 1.0, 1.0]])
    ax.set_yscale("log")  # the lower ends are 0
    assert axes.clip_outliers(ax, [(1.0, 30.0, "C0"), (2.0, 35.0, "C0")], True) == 0
    assert _inside(ax) and axes.BAR_NOTE in [t.get_text() for t in ax.texts]
    plt.close(fig)
