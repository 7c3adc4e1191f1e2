"""The scaling sweeps return the points asked for, with memory that behaves as memory must."""

import itertools
import json

import pytest
import torch

from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.measure.scaling import (
    LatencySetup,
    ar_latency_vs_tokens,
    diffusion_latency_vs_batch,
    diffusion_latency_vs_nfe,
    resolution_sweep,
)

FAST = {"repeats": 1, "retries": 0}  # properties only: no timing is asserted
FAST_SETUP = LatencySetup(**FAST)
UNET = TrainConfig(family="unet", model="unet-tiny", model_overrides={"model_channels": 8})
DIT = TrainConfig(
    family="dit", model="DiT-T/4", model_overrides={"depth": 1, "hidden": 32, "rope": True}
)
AR = TrainConfig(
    family="ar", model="ar-tiny", model_overrides={"width": 32, "depth": 1, "positions": "rope"}
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions on two threads crawl on a machine shared with other jobs; one is enough."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sweep(one_thread):
    configs = {"unet": UNET, "dit": DIT, "ar": AR}
    return resolution_sweep(configs, (6, 8, 16), batch=2, max_ar_tokens=8 * 8, **FAST)


def test_the_sweep_returns_one_point_per_family_and_resolution(sweep):
    assert [(p.family, p.resolution) for p in sweep] == [
        (f, r) for f in ("unet", "dit", "ar") for r in (6, 8, 16)
    ]
    assert all(p.batch == 2 for p in sweep)
    json.dumps([p.to_dict() for p in sweep])  # results.json stays JSON


def test_memory_is_positive_larger_for_training_and_grows_with_resolution(sweep):
    measured = [p for p in sweep if p.skipped is None]
    assert {p.family for p in measured} == {"unet", "dit", "ar"}
    for p in measured:
        assert 0 < p.sample_peak_mb < p.train_peak_mb, p
        assert p.train_step.median_s > 0 and p.sample_step.median_s > 0
    for family in ("unet", "dit", "ar"):
        points = sorted((p for p in measured if p.family == family), key=lambda p: p.resolution)
        assert len(points) >= 2
        for small, large in itertools.pairwise(points):
            assert small.train_peak_mb < large.train_peak_mb, family
            assert small.sample_peak_mb < large.sample_peak_mb, family


def test_impossible_or_too_long_points_are_recorded_as_skipped_with_the_reason(sweep):
    by_key = {(p.family, p.resolution): p for p in sweep}
    dit6 = by_key["dit", 6]  # patch 4 does not divide 6
    assert dit6.train_peak_mb is None and "divisible" in dit6.skipped
    ar16 = by_key["ar", 16]  # 256 tokens > the cap of 64
    assert ar16.train_step is None and "cap" in ar16.skipped and ar16.tokens == 256
    assert "patch 4" in by_key["dit", 8].arch and "(8, 16, 32)" in by_key["unet", 8].arch


def test_a_family_without_cost_probes_is_refused_before_it_is_measured():
    with pytest.raises(ConfigError, match="vqvae"):
        resolution_sweep({"vq": TrainConfig(family="vqvae")}, (8,))


@pytest.mark.parametrize("kv_cache", [True, False])
def test_ar_sampling_takes_one_step_per_token(kv_cache):
    points = ar_latency_vs_tokens(AR, (4, 5), kv_cache=kv_cache, setup=FAST_SETUP)
    assert [p.x for p in points] == [16, 25]
    assert all(p.steps == p.x and p.extra["kv_cache"] is kv_cache for p in points)


def test_diffusion_sweeps_return_the_requested_step_counts_and_batches():
    by_nfe = diffusion_latency_vs_nfe(DIT, (1, 3), resolution=8, setup=FAST_SETUP)
    assert [(p.x, p.steps) for p in by_nfe] == [(1, 1), (3, 3)]
    by_batch = diffusion_latency_vs_batch(UNET, (1, 3), steps=2, resolution=8, setup=FAST_SETUP)
    assert [(p.x, p.steps, p.extra["batch"]) for p in by_batch] == [(1, 2, 1), (3, 2, 3)]
    assert json.loads(json.dumps(by_batch[1].to_dict()))["seconds_per_image"] > 0
    with pytest.raises(ConfigError, match="ar"):
        diffusion_latency_vs_nfe(AR, (1,))
