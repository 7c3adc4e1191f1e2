"""Progress arithmetic (fraction, ETA) with a fake clock, and the budget the loop reports."""

import pytest

from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.progress import (
    Estimate,
    LiveReporter,
    PlainReporter,
    SilentReporter,
    format_amount,
    format_seconds,
)
from trigen.train.budget import BudgetUnit, budget_spent


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_estimate_extrapolates_the_rate_seen():
    e = Estimate(done=25, total=100, elapsed=10.0)
    assert e.fraction == 0.25 and e.eta == pytest.approx(30.0)
    assert Estimate(0, 100, 5.0).eta is None  # nothing done: no rate yet
    assert Estimate(100, 100, 5.0).eta == 0.0
    assert Estimate(150, 100, 5.0).fraction == 1.0
    assert Estimate(0, 0, 0.0).fraction == 1.0  # an empty task is complete
    # a resumed run: only the work of this session sets the rate
    resumed = Estimate(done=60, total=100, elapsed=10.0, first_done=50)
    assert resumed.eta == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("unit", "step", "total", "expected"),
    [
        ("steps", 10, 200, "train: 50% (100/200 steps), 0:50 elapsed, ETA 0:50"),
        ("images", 640, 12800, "train: 50% (6400/12800 images), 0:50 elapsed, ETA 0:50"),
        ("minutes", 0.5, 10.0, "train: 50% (5.0/10.0 minutes), 0:50 elapsed, ETA 0:50"),
    ],
)
def test_plain_reporter_each_budget_kind(unit, step, total, expected):
    """One line per tenth: at most 10 lines after the silent 0 %, the last at 100 %, each with
    the fraction and an ETA from a fake clock that ticks 5 s per report."""
    clock, lines = FakeClock(), []
    reporter = PlainReporter(lines.append, clock=clock)
    with reporter.task("train", unit) as progress:
        done = type(step)(0)  # counts stay ints, minutes floats, as the loop reports them
        progress(done, total)
        while done < total:
            clock.now += 5.0
            done = min(done + step, total)
            progress(done, total, unit)
    assert len(lines) == 10
    assert [line.split(":")[1].split("%")[0].strip() for line in lines] == [
        str(p) for p in range(10, 101, 10)
    ]
    assert expected in lines
    assert lines[-1].startswith("train: 100%") and lines[-1].endswith("ETA 0:00")


def test_plain_reporter_jumps_print_once():
    lines = []
    with PlainReporter(lines.append, clock=FakeClock()).task("sample", "images") as progress:
        progress(64, 64)  # one chunk: the whole task at once
        progress(64, 64)
    assert lines == ["sample: 100% (64/64 images), 0:00 elapsed, ETA 0:00"]


def test_plain_reporter_follows_a_change_of_unit():
    clock, lines = FakeClock(), []
    with PlainReporter(lines.append, clock=clock).task("train", "images") as progress:
        progress(0, 100, "images")
        clock.now += 60
        progress(0.5, 1.0, "minutes")  # the minutes budget now ends first
    assert lines == ["train: 50% (0.5/1.0 minutes), 1:00 elapsed, ETA 1:00"]


def test_silent_and_live_reporters_accept_the_same_calls():
    from io import StringIO

    from rich.console import Console

    with SilentReporter().task("eval", "images") as progress:
        progress(1, 2)
    stream = StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    with LiveReporter(console).task("eval", "images") as progress:
        progress(1, 4)
        progress(4, 4, "images")
    assert "4/4 images" in stream.getvalue()


def test_large_amounts_show_three_significant_digits():
    assert format_amount(12800) == "12800" and format_amount(0.5) == "0.5"
    assert format_amount(1.2e13) == "1.2e+13" and format_amount(123_456_789_012) == "1.23e+11"


def test_format_seconds():
    assert format_seconds(65) == "1:05"
    assert format_seconds(3725) == "1:02:05"
    assert format_seconds(None) == "?"


def test_budget_spent_in_its_own_unit():
    steps = budget_spent(TrainConfig(max_steps=40), step=10, images_seen=640, seconds=9.0)
    assert (steps.unit, steps.done, steps.total, steps.fraction) == (BudgetUnit.STEPS, 10, 40, 0.25)
    images = budget_spent(TrainConfig(max_images=1000), step=3, images_seen=250, seconds=1.0)
    assert (images.unit, images.fraction) == (BudgetUnit.IMAGES, 0.25)
    minutes = budget_spent(TrainConfig(max_minutes=2.0), step=3, images_seen=250, seconds=30.0)
    assert (minutes.unit, minutes.done, minutes.fraction) == (BudgetUnit.MINUTES, 0.5, 0.25)
    flops = budget_spent(TrainConfig(max_flops=4e12), 3, 250, 1.0, flops_per_image=4e9)
    assert (flops.unit, flops.done, flops.fraction) == (BudgetUnit.FLOPS, 1e12, 0.25)


def test_budget_spent_reports_the_budget_nearest_its_end():
    cfg = TrainConfig(max_images=1000, max_minutes=1.0)
    assert budget_spent(cfg, 1, 100, 30.0).unit is BudgetUnit.MINUTES
    assert budget_spent(cfg, 1, 900, 30.0).unit is BudgetUnit.IMAGES
    with pytest.raises(ConfigError, match="budget"):
        budget_spent(TrainConfig(), 0, 0, 0.0)
