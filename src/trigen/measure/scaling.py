"""Cost sweeps: what a training step and a sampling step cost as images grow, and how
sampling time grows with sequence length (autoregression, masked decoding), step count and
batch (diffusion).

Memory is the peak of tensor allocations (:func:`trigen.eval.memory.peak_allocated_bytes`), not
the process RSS: it is > 0 for every call and comparable between families and runs. Time is a
:class:`~trigen.eval.cost.Timing` (median of repeated calls, its spread, a flag when noisy).
Networks are untrained: weights do not change what a forward or backward pass costs. Everything
runs in float32.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.errors import ConfigError, TrigenError
from trigen.eval.cost import Timing, count_parameters, measure_latency, measure_sweep
from trigen.eval.memory import peak_allocated_bytes
from trigen.families.base import Family, SampleSpec
from trigen.sampling import class_labels

MIB = 2**20
RESOLUTIONS = (16, 32, 64, 128, 256)
AR_TOKEN_CAP = 64 * 64
"""Longest token sequence (a token model's ``seq_len``: attention over every sub-pixel) the
resolution sweep runs; beyond it a point is recorded as skipped (attention over the whole
sequence makes a 128 px training step take minutes on a CPU)."""
SWEEP_SAMPLER = "ddim"  # one network evaluation per step, so NFE = steps
SWEEP_RESOLUTION = 16  # the comparison's resolution


@dataclass(frozen=True)
class ResolutionPoint:
    """Cost of one family at one resolution, on a fresh network.

    ``tokens``: positions the network processes (DiT patches, AR sub-pixels, U-Net and PixelCNN
    pixels). ``train_peak_mb``: peak MiB of tensors allocated by one training step (forward and
    backward of the mean loss at ``batch`` images, parameter gradients included, parameters
    not). ``sample_peak_mb``: the same for ONE sampling step at ``batch`` images, plus the state
    the sampler holds between steps (the current image for diffusion; the full KV cache for AR,
    whose last decode step is the one measured). ``skipped`` says why a point was not measured
    (the patch does not divide the resolution, the sequence exceeds the AR token cap); then the
    measurements are None.
    """

    family: str
    resolution: int
    tokens: int | None
    params: int | None
    arch: str
    train_peak_mb: float | None
    sample_peak_mb: float | None
    train_step: Timing | None
    sample_step: Timing | None
    batch: int
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``train_step_s``/``sample_step_s`` repeat the medians for tables."""
        out = dataclasses.asdict(self)
        out["train_step_s"] = self.train_step.median_s if self.train_step else None
        out["sample_step_s"] = self.sample_step.median_s if self.sample_step else None
        return out


@dataclass(frozen=True)
class LatencyPoint:
    """Time of one whole sampling call at swept value ``x`` (tokens, NFE or batch), with ``steps``
    the network evaluations the call runs one after the other; ``extra`` holds the fixed
    settings of the point (resolution, batch, KV cache, seconds per image)."""

    x: int
    timing: Timing
    steps: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "seconds": self.timing.median_s,
            "timing": self.timing.to_dict(),
            "steps": self.steps,
            **self.extra,
        }


@dataclass(frozen=True)
class LatencySetup:
    """What every latency sweep shares: the images (``channels``, ``num_classes``) of the fresh
    networks it builds, the ``device``, and how each point is timed: ``repeats`` calls, up to
    ``retries`` more rounds when the times spread (:func:`~trigen.eval.cost.measure_sweep`)."""

    channels: int = 1
    num_classes: int = 10
    device: torch.device | str = "cpu"
    repeats: int = 5
    retries: int = 2

    def time(self, calls: dict[str, Callable[[], object]]) -> dict[str, Timing]:
        """Each call's :class:`~trigen.eval.cost.Timing`, timed in interleaved rounds."""
        return measure_sweep(calls, repeats=self.repeats, retries=self.retries, device=self.device)


def _skipped(label: str, res: int, batch: int, tokens: int | None, arch: str, reason: str):
    return ResolutionPoint(label, res, tokens, None, arch, None, None, None, None, batch, reason)


def probed(family: Family) -> bool:
    """Whether ``family`` offers the cost probes the sweeps run: a forward pass and a sampling
    step (a family offers both or neither)."""
    return family.forward_probe() is not None


def _measure(
    family: Family, data: Batch, timing: dict[str, Any]
) -> tuple[int, Timing, int, Timing]:
    """Peak bytes and time of a training step, then of one sampling step (the family's
    ``sampling_step_probe``), of ``family``."""
    net = family.net

    def train_step() -> None:
        net.zero_grad(set_to_none=True)  # the gradients are allocated by the step, and counted
        family.loss(data).mean().backward()

    # the memory probe runs the call once just before it is timed: it is the timing's warm-up
    net.train()
    train_peak = peak_allocated_bytes(train_step)
    train_time = measure_latency(train_step, warmup=0, **timing)
    net.zero_grad(set_to_none=True)
    net.eval()
    probe = family.sampling_step_probe(data.labels)
    assert probe is not None, "a family with a forward probe offers a sampling step too"
    with torch.inference_mode():
        sample_peak = peak_allocated_bytes(probe.call) + probe.held_bytes
        sample_time = measure_latency(probe.call, warmup=0, **timing)
    return train_peak, train_time, sample_peak, sample_time


def _point(
    label: str, cfg: TrainConfig, res: int, *, channels: int, num_classes: int, batch: int,
    device: torch.device | str, max_ar_tokens: int, timing: dict[str, Any],
) -> ResolutionPoint:  # fmt: skip
    cfg = dataclasses.replace(cfg, resolution=res)
    try:
        family = build_family(cfg, DataSpec((channels, res, res), num_classes), device)
    except TrigenError as err:  # e.g. the patch size does not divide the resolution
        return _skipped(label, res, batch, None, cfg.preset, str(err))
    if not probed(family):
        raise ConfigError(
            f"resolution_sweep ({label}) measures families with cost probes (U-Net, DiT, AR, "
            f"PixelCNN, MaskGIT), not {cfg.family.value}"
        )
    if family.seq_len is not None and family.seq_len > max_ar_tokens:
        reason = f"{family.seq_len} tokens > the AR cap of {max_ar_tokens}"
        return _skipped(label, res, batch, family.seq_len, cfg.preset, reason)
    images = torch.rand(batch, channels, res, res, device=device) * 2 - 1
    data = Batch(images, class_labels(num_classes, batch).to(device))
    train_peak, train_time, sample_peak, sample_time = _measure(family, data, timing)
    return ResolutionPoint(
        family=label,
        resolution=res,
        tokens=family.positions(),
        params=count_parameters(family.net),
        arch=f"{cfg.preset}: {family.describe_network()}",
        train_peak_mb=train_peak / MIB,
        sample_peak_mb=sample_peak / MIB,
        train_step=train_time,
        sample_step=sample_time,
        batch=batch,
    )


def resolution_sweep(
    family_configs: dict[str, TrainConfig],
    resolutions: tuple[int, ...] = RESOLUTIONS,
    *,
    channels: int = 1,
    num_classes: int = 10,
    batch: int = 1,
    device: torch.device | str = "cpu",
    max_ar_tokens: int = AR_TOKEN_CAP,
    repeats: int = 5,
    retries: int = 2,
) -> list[ResolutionPoint]:
    """Training-step and sampling-step memory and time of each config at each resolution.

    ``family_configs``: label → run config of a family with a sampling step to probe (U-Net,
    DiT, AR, PixelCNN, MaskGIT); each point builds a fresh network of that preset for
    ``channels`` × res × res images (a token sequence longer than ``max_ar_tokens`` is
    skipped). Each step is run once under the memory probe (also the warm-up), then timed
    ``repeats`` times, with up to ``retries`` more rounds when the times spread
    (:func:`~trigen.eval.cost.measure_latency`).

    Batch 1 by default: at 256 px a training step of DiT-T/4 (4096 tokens) or unet-tiny
    (attention over 64×64) takes seconds on two CPU cores, and batch 1 keeps 16 → 256 px of
    both within about three minutes on a quiet machine (retries on a busy one add up to 2×).
    Activation memory grows linearly with the batch, so the trend with resolution is the same.
    """
    if batch < 1:
        raise ConfigError(f"resolution_sweep needs a batch ≥ 1, got {batch}")
    timing = dict(repeats=repeats, retries=retries, device=device)
    common = dict(channels=channels, num_classes=num_classes, batch=batch, device=device)
    common |= dict(max_ar_tokens=max_ar_tokens, timing=timing)
    return [
        _point(label, cfg, res, **common)
        for label, cfg in family_configs.items()
        for res in resolutions
    ]


def fresh_family(cfg: TrainConfig, res: int, setup: LatencySetup) -> Family:
    """An untrained family of ``cfg``'s preset at ``res`` px for ``setup``'s images and device,
    in eval mode: what one sampling pass costs does not depend on the weights."""
    family = build_family(
        dataclasses.replace(cfg, resolution=res),
        DataSpec((setup.channels, res, res), setup.num_classes),
        setup.device,
    )
    family.net.eval()
    return family


def _one_image_per_resolution(
    cfg: TrainConfig,
    resolutions: tuple[int, ...],
    sample: Callable[[Family], Tensor],
    setup: LatencySetup,
) -> list[tuple[int, int, Timing]]:
    """(resolution, tokens, timing) of ``sample(family)`` (one whole image, batch 1) on a fresh
    family of ``cfg``'s preset at each resolution; the points are timed in interleaved rounds
    (:func:`~trigen.eval.cost.measure_sweep`)."""
    calls, tokens = {}, {}
    for res in resolutions:
        family = fresh_family(cfg, res, setup)
        calls[str(res)], tokens[res] = functools.partial(sample, family), family.seq_len
    timings = setup.time(calls)
    return [(res, n, timings[str(res)]) for res, n in tokens.items()]


def ar_latency_vs_tokens(
    cfg: TrainConfig,
    resolutions: tuple[int, ...] = (4, 6, 8, 12, 16),
    *,
    kv_cache: bool,
    setup: LatencySetup = LatencySetup(),
) -> list[LatencyPoint]:
    """Seconds to sample one whole image (batch 1) against its token count, one point per
    resolution; ``steps`` = tokens (one network call per token, run in series). An instrument
    of the AR family's own KV cache: it refuses other configs.

    ``kv_cache=False`` recomputes the whole prefix at every step (``generate``'s cache-less
    path): quadratic in tokens instead of linear.
    """
    from trigen.autoregressive.generate import generate

    if cfg.family is not FamilyName.AR:
        raise ConfigError(f"ar_latency_vs_tokens measures ar configs, not {cfg.family.value}")
    device = setup.device
    y = class_labels(setup.num_classes, 1).to(device)

    def sample(family: Family) -> Tensor:
        gen = torch.Generator(device).manual_seed(0)
        return generate(
            family.net, y, seq_len=family.seq_len, generator=gen, null_label=setup.num_classes,
            use_cache=kv_cache,
        )  # fmt: skip

    timed = _one_image_per_resolution(cfg, resolutions, sample, setup)
    extra = {"kv_cache": kv_cache, "batch": 1}
    return [LatencyPoint(n, timing, n, {"resolution": res, **extra}) for res, n, timing in timed]


def maskgit_latency_vs_tokens(
    cfg: TrainConfig,
    resolutions: tuple[int, ...],
    *,
    steps: int,
    setup: LatencySetup = LatencySetup(repeats=3, retries=1),
) -> list[LatencyPoint]:
    """Seconds to sample one whole image (batch 1) with K = ``steps`` decoding steps against its
    token count, one point per resolution, on a fresh network of ``cfg``'s preset."""
    spec = SampleSpec(steps=steps)
    device = setup.device
    y = torch.zeros(1, dtype=torch.long, device=device)

    def sample(family: Family) -> Tensor:
        with torch.inference_mode():
            return family.sample(y, spec, torch.Generator(device).manual_seed(0))

    timed = _one_image_per_resolution(cfg, resolutions, sample, setup)
    points = []
    for res, tokens, timing in timed:
        extra = {"resolution": res, "batch": 1, "decoding_steps": min(steps, tokens)}
        points.append(LatencyPoint(tokens, timing, min(steps, tokens), extra))
    return points


def _diffusion_sweep(
    cfg: TrainConfig, resolution: int, setup: LatencySetup, calls: dict[int, tuple[int, int]]
) -> dict[int, Timing]:
    """Timing of each swept value's whole DDIM sampling call of (batch, steps) ``calls[x]``,
    each with a fresh, fixed-seed generator, on one fresh network of ``cfg``'s preset."""
    family = fresh_family(cfg, resolution, setup)
    if "sampler" not in family.sample_options(SampleSpec(sampler=SWEEP_SAMPLER)):
        raise ConfigError(
            f"the diffusion latency sweeps measure families with a diffusion sampler, not "
            f"{cfg.family.value}"
        )
    device = setup.device

    def sample(batch: int, steps: int) -> Tensor:
        gen = torch.Generator(device).manual_seed(0)
        labels = class_labels(setup.num_classes, batch).to(device)
        with torch.inference_mode():
            return family.sample(labels, SampleSpec(sampler=SWEEP_SAMPLER, steps=steps), gen)

    timings = setup.time({str(x): functools.partial(sample, *call) for x, call in calls.items()})
    return {x: timings[str(x)] for x in calls}


def diffusion_latency_vs_nfe(
    cfg: TrainConfig,
    nfes: tuple[int, ...] = (5, 10, 20, 40),
    *,
    batch: int = 1,
    resolution: int = SWEEP_RESOLUTION,
    setup: LatencySetup = LatencySetup(),
) -> list[LatencyPoint]:
    """Seconds of a whole DDIM sampling call of ``batch`` images against its network
    evaluations: each step predicts the whole image at once, so time ∝ NFE, not pixels."""
    from trigen.diffusion.samplers import nfe

    timings = _diffusion_sweep(cfg, resolution, setup, {n: (batch, n) for n in nfes})
    extra = {"resolution": resolution, "batch": batch, "sampler": SWEEP_SAMPLER}
    return [LatencyPoint(n, timings[n], nfe(SWEEP_SAMPLER, n), dict(extra)) for n in nfes]


def diffusion_latency_vs_batch(
    cfg: TrainConfig,
    batches: tuple[int, ...] = (1, 2, 4, 8, 16),
    *,
    steps: int = 10,
    resolution: int = SWEEP_RESOLUTION,
    setup: LatencySetup = LatencySetup(),
) -> list[LatencyPoint]:
    """Seconds of a whole ``steps``-step DDIM sampling call against the batch (images sampled
    together); ``extra['seconds_per_image']`` shows what batching buys."""
    from trigen.diffusion.samplers import nfe

    timings = _diffusion_sweep(cfg, resolution, setup, {b: (b, steps) for b in batches})
    points = []
    for b in batches:
        extra = {"resolution": resolution, "batch": b, "seconds_per_image": timings[b].median_s / b}
        points.append(LatencyPoint(b, timings[b], nfe(SWEEP_SAMPLER, steps), extra))
    return points
