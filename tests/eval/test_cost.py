"""Cost instruments: counted FLOPs, parameters, latency bookkeeping, peak memory."""

import pytest
import torch
from torch import nn

from trigen.errors import ConfigError
from trigen.eval.cost import count_flops, count_parameters, latency, peak_memory

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
