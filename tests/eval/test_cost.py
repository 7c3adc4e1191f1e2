"""Cost instruments: counted FLOPs, parameters, latency bookkeeping, peak memory."""

import json

import pytest
import torch
from torch import nn

from trigen.errors import ConfigError
from trigen.eval import cost
from trigen.eval.cost import (
    count_flops,
    count_parameters,
    latency,
    measure_interleaved,
    measure_latency,
    measure_sweep,
    peak_memory,
)
from trigen.eval.memory import peak_allocated_bytes

MIB = 1 << 20


@pytest.mark.parametrize(("n", "a", "b"), [(1, 3, 5), (7, 16, 4), (32, 64, 128)])
def test_flops_of_a_linear_layer_are_two_n_a_b(n, a, b):
    layer, x = nn.Linear(a, b), torch.randn(n, a)
    assert count_flops(lambda: layer(x)) == 2 * n * a * b


def test_flops_add_up_over_repeated_forwards():
    layer, x = nn.Linear(8, 8), torch.randn(2, 8)
    assert count_flops(lambda: [layer(x) for _ in range(5)]) == 5 * count_flops(lambda: layer(x))


def test_parameter_count_counts_shared_and_frozen_parameters_correctly():
    layer = nn.Linear(10, 4)
    net = nn.Sequential(layer, nn.ReLU(), layer, nn.Linear(4, 2))  # `layer` shared
    assert count_parameters(net) == 44 + 10
    net[3].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 44 + 2


def test_latency_runs_warmup_and_repeats_and_returns_seconds():
    calls = []
    seconds = latency(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5
    assert seconds >= 0
    with pytest.raises(ConfigError):
        latency(lambda: None, repeats=0)


def test_cpu_peak_memory_sees_each_call_not_an_earlier_peak():
    def allocate(mib: int):
        return lambda: torch.ones(mib * MIB // 4).sum()  # float32: 4 bytes each, all touched

    big = peak_memory(allocate(256))
    small = peak_memory(allocate(16))
    assert big.device == "cpu"
    assert big.added_bytes > 200 * MIB
    if small.exact:  # the high-water mark was reset: the small call is not hidden by the big one
        assert small.added_bytes < 100 * MIB


class FakeClock:
    """A perf_counter that only moves when the fake work runs: each call of ``work`` takes the
    next of ``durations`` seconds, so spreads are exact and no test depends on the machine."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def perf_counter(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += self.durations.pop(0)


def timed(monkeypatch, durations: list[float], **options):
    clock = FakeClock(durations)
    monkeypatch.setattr(cost.time, "perf_counter", clock.perf_counter)
    return measure_latency(clock.work, **options), clock


def test_steady_calls_are_measured_once_with_their_median_and_no_spread(monkeypatch):
    timing, clock = timed(monkeypatch, [9.0] + [2.0] * 5, warmup=1, repeats=5)
    assert clock.calls == 6  # the slow warm-up call is not timed
    assert (timing.median_s, timing.min_s, timing.max_s) == (2.0, 2.0, 2.0)
    assert timing.spread == 0 and not timing.flagged
    assert timing.attempts == 1 and timing.repeats == 5


def test_a_noisy_round_is_measured_again_and_the_calmer_round_kept(monkeypatch):
    noisy, calm = [1.0, 1.0, 1.0, 1.0, 3.0], [1.0, 1.1, 1.0, 1.0, 1.0]
    timing, clock = timed(monkeypatch, noisy + calm, warmup=0, repeats=5, max_spread=0.2)
    assert clock.calls == 10 and timing.attempts == 2
    assert timing.spread == pytest.approx(0.1) and not timing.flagged
    assert timing.max_s == pytest.approx(1.1)


def test_a_timing_that_stays_noisy_is_flagged_after_its_retries(monkeypatch):
    rounds = [*(1.0, 1.0, 4.0), *(1.0, 2.0, 1.0), *(1.0, 1.0, 3.0)]  # spreads 3, 1, 2
    timing, clock = timed(monkeypatch, rounds, warmup=0, repeats=3, max_spread=0.5, retries=2)
    assert clock.calls == 9 and timing.attempts == 3
    assert timing.flagged and timing.spread == pytest.approx(1.0)  # the least spread round
    assert json.loads(json.dumps(timing.to_dict()))["flagged"] is True


def test_latency_keeps_its_single_round_median(monkeypatch):
    clock = FakeClock([1.0, 1.0, 5.0, 1.0])
    monkeypatch.setattr(cost.time, "perf_counter", clock.perf_counter)
    assert latency(clock.work, warmup=0, repeats=3) == 1.0
    assert clock.calls == 3  # never re-measured
    with pytest.raises(ConfigError):
        measure_latency(clock.work, retries=-1)


def linear_stack(depth: int, width: int) -> nn.Module:
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.GELU())])


def conv_stack(depth: int, channels: int) -> nn.Module:
    layers = [(nn.Conv2d(channels, channels, 3, padding=1), nn.GELU()) for _ in range(depth)]
    return nn.Sequential(*[m for pair in layers for m in pair])


def training_peak(net: nn.Module, x: torch.Tensor) -> int:
    def step():
        net.zero_grad(set_to_none=True)  # the step allocates its gradients
        net(x).sum().backward()

    step()  # an earlier step's gradients exist before the measured one: they must not count
    return peak_allocated_bytes(step)


@pytest.mark.parametrize("batch", [16, 64, 256])
def test_training_peak_of_a_linear_stack_matches_the_analytic_estimate(batch):
    depth, width, fp32 = 4, 256, 4
    activations = 2 * depth * batch * width * fp32  # each Linear's input and each GELU's input
    gradients = fp32 * depth * (width * width + width)
    peak = training_peak(linear_stack(depth, width), torch.randn(batch, width))
    assert 0.5 < peak / (activations + gradients) < 2


def test_training_peak_of_a_conv_stack_matches_the_estimate_and_grows_with_resolution():
    depth, channels, batch, fp32 = 4, 16, 4, 4
    net, peaks = conv_stack(depth, channels), []
    for side in (8, 16, 32):
        activations = 2 * depth * batch * channels * side * side * fp32
        gradients = fp32 * depth * (9 * channels * channels + channels)
        peaks.append(training_peak(net, torch.randn(batch, channels, side, side)))
        assert 0.5 < peaks[-1] / (activations + gradients) < 2
    assert peaks[0] < peaks[1] < peaks[2]


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_an_inference_forward_counts_its_activations_not_the_parameters(mode):
    width, fp32 = 512, 4
    net = linear_stack(3, width)
    with mode():
        small = peak_allocated_bytes(lambda: net(torch.randn(4, width)))
        big = peak_allocated_bytes(lambda: net(torch.randn(64, width)))
    assert 0 < small < big
    # the input, a Linear output and a GELU output at once; a weight matrix never counts
    assert big <= 3 * 64 * width * fp32 < width * width * fp32


class FakeHost:
    """A clock that each call advances by its cost × the host's slowness; the host slows down
    ``factor``× after every ``every`` calls (a neighbour arriving, a clock dropping)."""

    def __init__(self, every=10**9, factor=1.0):
        self.now, self.slowness, self.order = 0.0, 1.0, []
        self.every, self.factor = every, factor

    def call(self, name, cost):
        def fn():
            self.order.append(name)
            self.now += cost * self.slowness
            if len(self.order) % self.every == 0:
                self.slowness *= self.factor

        return fn

    def clock(self):
        return self.now


def test_interleaved_rounds_alternate_the_order_after_warming_each_up():
    host = FakeHost()
    fns = {"a": host.call("a", 1.0), "b": host.call("b", 1.0)}
    timed = measure_interleaved(fns, rounds=3, warmup=1, clock=host.clock)
    assert host.order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert all(len(times) == 3 for times in timed.seconds.values())


def test_an_interleaved_ratio_ignores_a_host_that_slows_down_between_rounds():
    host = FakeHost(every=2, factor=2.0)  # twice as slow after each round of the two calls
    fns = {"a": host.call("a", 4.0), "b": host.call("b", 1.0)}
    timed = measure_interleaved(fns, rounds=4, warmup=0, clock=host.clock)
    assert timed.seconds["a"] == (4.0, 8.0, 16.0, 32.0) and timed.timing("a").flagged
    assert timed.ratios("a", "b") == (4.0, 4.0, 4.0, 4.0)


@pytest.mark.parametrize("rounds,warmup,fns", [(0, 1, {"a": int}), (2, -1, {"a": int}), (2, 1, {})])
def test_interleaved_timing_rejects_empty_or_negative_settings(rounds, warmup, fns):
    with pytest.raises(ConfigError):
        measure_interleaved(fns, rounds=rounds, warmup=warmup)


def test_a_sweep_is_timed_in_interleaved_rounds_and_measured_again_while_a_point_spreads(
    monkeypatch,
):
    # call order: warm-up a b; rounds a b | b a | a b; then, re-measured, a b | b a | a b
    first = [9.0, 9.0, 1.0, 2.0, 2.0, 3.0, 1.0, 2.0]  # a spreads 3 → 1: flagged
    again = [1.0, 2.0, 2.0, 1.1, 1.0, 2.0]
    clock = FakeClock(first + again)
    monkeypatch.setattr(cost.time, "perf_counter", clock.perf_counter)
    timings = measure_sweep({"a": clock.work, "b": clock.work}, repeats=3, retries=2)
    assert clock.calls == len(first + again)  # calm after one re-measurement: no third
    assert timings["a"].median_s == 1.0 and timings["b"].median_s == 2.0
    assert not any(t.flagged for t in timings.values())
    assert {t.attempts for t in timings.values()} == {2}
