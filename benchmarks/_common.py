"""Shared helpers of the peer benchmarks: common options, environment record, interleaved A/B
timing, GEMM peak, the equal-size GPT-2 peer, and the JSON + markdown writers. Benchmarks are
scripts, not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
PRECISIONS = ("fp32", "bf16")
GEMM_CALL_S = 1.0  # longest single matmul the peak search may run (the next size costs 8×)
GEMM_SIZE = 4096  # largest matmul side: big enough that per-call overhead vanishes


def sync(device: torch.device) -> None:
    """Wait for queued kernels, so a wall-clock interval covers the work (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """bf16 autocast (fp32 master weights, as trigen's Trainer does) or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--threads``, ``--device``, ``--tag`` and ``--out``: where and how a benchmark runs."""
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"))
    parser.add_argument("--tag", default="", help="suffix of the result files (e.g. gpu)")
    parser.add_argument("--out", type=Path, default=RESULTS)


def start_run(args: argparse.Namespace) -> dict:
    """Apply ``--threads`` and return the :func:`environment` record of this run."""
    torch.set_num_threads(args.threads)
    return environment(args.device, args.threads)


def gpt2_peer(net: torch.nn.Module, num_classes: int, device: torch.device) -> torch.nn.Module:
    """HF ``GPT2LMHeadModel`` of the size of trigen's AR transformer ``net`` (no dropout).

    Vocabulary: the pixel values, then one class token per class and the null class; positions:
    the class token and the sequence.
    """
    from transformers import GPT2Config, GPT2LMHeadModel  # a peer: imported only when benchmarked

    c = net.cfg
    config = GPT2Config(
        vocab_size=c.vocab_size + num_classes + 1,
        n_positions=c.seq_len + 1,
        n_embd=c.width,
        n_layer=c.depth,
        n_head=c.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,
    )
    return GPT2LMHeadModel(config).to(device)


def environment(device: torch.device, threads: int) -> dict:
    """What a reader needs to judge the figures: machine, versions, threads, load average."""
    env = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "torch": torch.__version__,
        "threads": threads,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    for name in ("diffusers", "transformers"):
        try:
            env[name] = __import__(name).__version__
        except ImportError:
            env[name] = None
    return env


def interleaved(
    fns: dict[str, Callable[[], object]], *, steps: int, warmup: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds per call of each ``fns`` entry, calls alternating A, B, A, B, … after ``warmup``
    rounds, so that a change of machine load hits every contender alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(steps):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of ``fn``, queued device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def gemm_peak(
    device: torch.device, dtype: torch.dtype, *, max_size: int = GEMM_SIZE, repeats: int = 3
) -> tuple[float, int]:
    """(best GFLOP/s, side) of square matmuls in ``dtype``: the side doubles from 256 up to
    ``max_size`` while one call stays under ``GEMM_CALL_S`` (bf16 without native CPU support
    runs ~1 GFLOP/s, where a 2048² product would take a minute). Best, not median: the peak is
    what the hardware allows when nothing else interferes."""
    size, best_rate = 256, 0.0
    while True:
        a = torch.randn(size, size, device=device).to(dtype)
        b = torch.randn(size, size, device=device).to(dtype)
        a @ b  # warm-up: thread pool, packing buffers, kernel choice
        best = float("inf")
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            a @ b
            sync(device)
            best = min(best, time.perf_counter() - start)
        best_rate = max(best_rate, 2 * size**3 / best / 1e9)
        if size * 2 > max_size or best * 8 > GEMM_CALL_S:
            return best_rate, size
        size *= 2


def write(name: str, record: dict, table: list[str], out: Path = RESULTS) -> None:
    """``out/name.json`` (the record, load average at the end added) and ``out/name.md``."""
    record["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    env = record["environment"]
    head = (
        f"{env['device']}, torch {env['torch']}, {env['threads']} thread(s), "
        f"load {env['load_average_start'][0]} → {record['load_average_end'][0]}, {env['date']}"
    )
    (out / f"{name}.md").write_text(f"# {name}\n\n{head}\n\n" + "\n".join(table) + "\n")
    print("\n".join(table), flush=True)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def with_interval(row: dict, key: str, spec: str) -> str:
    """``row[key]`` and its 95 % interval (``key_low``, ``key_high``), each formatted by
    ``spec``: a markdown cell such as ``12.3 [11.0, 13.9]``."""
    value, low, high = row[key], row[f"{key}_low"], row[f"{key}_high"]
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"
