"""What a model costs: parameters, FLOPs counted by torch, latency, and peak memory.

Latency is a :class:`Timing`: the median of repeated calls with their spread, re-measured when the
calls disagree and flagged when they still do. For the memory a model's tensors need, use
:func:`trigen.eval.memory.peak_allocated_bytes` (tensor allocations, exact and comparable between
runs); :func:`peak_memory` below is the whole process's footprint, allocator cache included.

Peak memory on CPU is the process's resident-set high-water mark (``VmHWM`` in
``/proc/self/status``). That mark only ever rises, so a plain before/after difference says nothing
about a call that stays below an earlier peak. Linux lets a process reset it to the current RSS
(writing ``5`` to ``/proc/self/clear_refs``, since Linux 4.0), which we do before the call: the
peak is then exact for this call, in-process, without the cost and pickling limits of a fresh
subprocess. Where the reset is refused (not Linux, or a locked-down /proc) we fall back to the
``getrusage`` high-water mark delta and flag the result as a lower bound (``exact=False``).
On CUDA the peak is ``torch.cuda.max_memory_allocated`` after resetting its statistics.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import (
    FlopCounterMode,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

from trigen.errors import ConfigError

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK_RSS = "5"  # clear_refs command: reset the peak RSS to the current RSS
KIB = 1024
# getrusage's ru_maxrss is in KiB on Linux but in bytes on macOS
RUSAGE_UNIT = 1 if sys.platform == "darwin" else KIB


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``module`` (shared tensors counted once)."""
    seen = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in seen.values())


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of CPU fused attention: those torch counts for the CUDA kernels (the full score
    matrix, a causal mask notwithstanding)."""
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs):
    return sdpa_backward_flop_count(grad_out, query, key, value)


# torch counts its CUDA attention kernels but not the CPU one that every SDPA call on a CPU
# runs: without these, a transformer's attention would cost nothing on a CPU
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        _cpu_attention_backward_flops
    ),
}


def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``fn()``, as counted by torch's FlopCounterMode.

    A multiply-accumulate counts as 2 FLOPs (a Linear(a, b) on n rows is 2·n·a·b); only the
    operators torch has formulas for are counted (matmuls, convolutions, attention), which
    dominate every model here. Attention counts alike on CPU and CUDA (:data:`CPU_ATTENTION_FLOPS`).
    For a sampler, call the whole sampling: FLOPs per sample follow
    from NFE × forward cost as counted, KV-cache savings included. A ``fn`` that calls
    ``backward`` has its backward pass counted too (a training step).
    """
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with counter:
        fn()
    return int(counter.get_total_flops())


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls of one function, and how much they disagreed.

    ``spread = (max_s − min_s) / median_s`` over the ``repeats`` calls of the attempt that was
    kept; ``attempts`` is how many rounds of ``repeats`` calls were measured to get it, and
    ``flagged`` says that even the best attempt spread more than was asked (a noisy machine:
    treat the median with care).
    """

    median_s: float
    min_s: float
    max_s: float
    repeats: int
    spread: float
    flagged: bool
    attempts: int

    @classmethod
    def of(cls, times: list[float], *, max_spread: float, attempts: int) -> Timing:
        """The timing of one attempt's call ``times`` (seconds)."""
        median = statistics.median(times)
        spread = (max(times) - min(times)) / median if median > 0 else 0.0
        return cls(
            median_s=median,
            min_s=min(times),
            max_s=max(times),
            repeats=len(times),
            spread=spread,
            flagged=spread > max_spread,
            attempts=attempts,
        )

    def to_dict(self) -> dict[str, float | int | bool]:
        return dataclasses.asdict(self)


def measure_latency(
    fn: Callable[[], object],
    *,
    warmup: int = 1,
    repeats: int = 5,
    max_spread: float = 0.2,
    retries: int = 2,
    device: torch.device | str | None = None,
) -> Timing:
    """Wall-clock :class:`Timing` of ``fn()``: ``warmup`` calls, then ``repeats`` timed calls.

    When the calls spread by more than ``max_spread`` (relative to their median), the round is
    measured again, up to ``retries`` more times, and the round with the smallest spread is kept;
    if that one still spreads too much the timing is ``flagged``. ``device``: for CUDA each call
    is timed to the end of its kernels (synchronised). A sweep of one point (:func:`measure_sweep`).
    """
    timings = measure_sweep(
        {"fn": fn}, warmup=warmup, repeats=repeats, max_spread=max_spread, retries=retries,
        device=device,
    )  # fmt: skip
    return timings["fn"]


@dataclass(frozen=True)
class Interleaved:
    """Several functions timed in interleaved rounds: each round calls every one once, back to
    back, in alternating order. ``seconds[name]`` holds one call time per round; ratios are
    taken within a round, so a host that changes speed between rounds (a busy neighbour, a
    clock that drops) moves both sides of a ratio together instead of one."""

    seconds: dict[str, tuple[float, ...]]

    def timing(self, name: str, max_spread: float = 0.2) -> Timing:
        """``name``'s calls as a :class:`Timing` (one attempt, flagged above ``max_spread``)."""
        return Timing.of(list(self.seconds[name]), max_spread=max_spread, attempts=1)

    def ratios(self, a: str, b: str) -> tuple[float, ...]:
        """time(a) ÷ time(b) in each round."""
        return tuple(x / y for x, y in zip(self.seconds[a], self.seconds[b], strict=True))


def measure_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    rounds: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
    clock: Callable[[], float] | None = None,
) -> Interleaved:
    """Time each of ``fns`` once per round for ``rounds`` rounds, after ``warmup`` calls of each;
    the order reverses every round (A B, B A, …) so no function always runs first."""
    if rounds < 1 or warmup < 0 or not fns:
        raise ConfigError(
            f"interleaved timing needs functions, rounds ≥ 1 and warmup ≥ 0, got {len(fns)} "
            f"functions, {rounds}, {warmup}"
        )
    device = torch.device(device) if device is not None else None
    clock = clock or time.perf_counter  # looked up per call (tests replace it)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            _synchronize(device)
            start = clock()
            fns[name]()
            _synchronize(device)
            seconds[name].append(clock() - start)
    return Interleaved({name: tuple(times) for name, times in seconds.items()})


def measure_sweep(
    fns: dict[str, Callable[[], object]],
    *,
    warmup: int = 1,
    repeats: int = 5,
    retries: int = 2,
    max_spread: float = 0.2,
    device: torch.device | str | None = None,
) -> dict[str, Timing]:
    """A :class:`Timing` for each point of a sweep, its points timed in interleaved rounds
    (:func:`measure_interleaved`, ``repeats`` rounds) so that a host whose speed changes during
    the sweep shifts every point alike instead of bending the curve where it changed. While any
    point spreads more than ``max_spread``, the sweep is measured again (warm: no more warm-up
    calls), up to ``retries`` more times, and the set whose worst spread is smallest kept."""
    if repeats < 1 or warmup < 0 or retries < 0 or max_spread < 0:
        raise ConfigError(
            "latency needs repeats ≥ 1, warmup ≥ 0, retries ≥ 0 and max_spread ≥ 0, got "
            f"{repeats}, {warmup}, {retries}, {max_spread}"
        )
    best: dict[str, Timing] | None = None
    for attempt in range(1, retries + 2):
        timed = measure_interleaved(
            fns, rounds=repeats, warmup=warmup if attempt == 1 else 0, device=device
        )
        timings = {name: timed.timing(name, max_spread) for name in fns}
        if best is None or _worst(timings) < _worst(best):
            best = timings
        if not any(t.flagged for t in best.values()):
            break
    return {name: dataclasses.replace(t, attempts=attempt) for name, t in best.items()}


def _worst(timings: dict[str, Timing]) -> float:
    return max(t.spread for t in timings.values())


def latency(
    fn: Callable[[], object],
    *,
    warmup: int = 1,
    repeats: int = 5,
    device: torch.device | str | None = None,
) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls
    (one round, never repeated: :func:`measure_latency` also reports and controls the spread).

    ``device``: for CUDA, each call is timed to the end of its kernels (synchronised).
    """
    return measure_latency(
        fn, warmup=warmup, repeats=repeats, retries=0, max_spread=float("inf"), device=device
    ).median_s


@dataclass(frozen=True)
class PeakMemory:
    """Memory of one call: ``peak_bytes`` at its high point, ``baseline_bytes`` before it.

    ``peak_bytes − baseline_bytes`` is what the call itself added at its peak. CPU: resident set
    size of the whole process; CUDA: bytes allocated by torch's caching allocator. ``exact`` is
    False when the CPU high-water mark could not be reset (then the delta is a lower bound).
    """

    peak_bytes: int
    baseline_bytes: int
    device: str
    exact: bool

    @property
    def added_bytes(self) -> int:
        """Bytes the call added at its peak, above what was in use before it."""
        return max(self.peak_bytes - self.baseline_bytes, 0)


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (e.g. VmRSS, VmHWM), or None where unavailable."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", PROC_STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark to its current RSS; False where not allowed."""
    try:
        PROC_CLEAR_REFS.write_text(RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def _cpu_peak(fn: Callable[[], object]) -> PeakMemory:
    gc.collect()  # free garbage from before the call, so it is not in the baseline
    exact = _reset_peak_rss()
    baseline_kib = _status_kib("VmRSS")
    if not exact or baseline_kib is None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RUSAGE_UNIT
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RUSAGE_UNIT
        return PeakMemory(after, before, "cpu", exact=False)
    fn()
    peak_kib = _status_kib("VmHWM") or baseline_kib
    return PeakMemory(peak_kib * KIB, baseline_kib * KIB, "cpu", exact=True)


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> PeakMemory:
    """Peak memory while ``fn()`` runs on ``device`` (CPU: process RSS; CUDA: torch allocations)."""
    device = torch.device(device)
    if device.type == "cpu":
        return _cpu_peak(fn)
    if device.type != "cuda":
        raise ConfigError(f"peak memory is measured on cpu or cuda, not {device.type}")
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return PeakMemory(torch.cuda.max_memory_allocated(device), baseline, "cuda", exact=True)
