"""Autoregressive sampling with the KV cache vs recomputing the prefix at every step.

Same model, same run, same generator: samples ``--batch`` MNIST-size sequences (28×28 = 784 tokens)
from a randomly initialised preset both ways, checks that both draw the same tokens, and writes
``benchmarks/results/ar_kv_cache.{json,md}``. Usage::

    .venv/bin/python benchmarks/ar_kv_cache.py [--preset ar-tiny] [--batch 8] [--threads 1]

Both methods run with the same number of intra-op threads, 1 by default: on the shared 2-core
machines (load ≈ 6–8) two threads made *both* methods 2–16× slower (every tiny op waits on a
thread barrier), which measures the machine's contention rather than the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from trigen.autoregressive.generate import generate
from trigen.models.ar_transformer import ARTransformer, ar_config

MNIST_GRID = (28, 28, 1)
NUM_CLASSES = 10
RESULTS = Path(__file__).parent / "results"


def timed_generate(
    model: ARTransformer, labels: torch.Tensor, **kwargs
) -> tuple[float, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    tokens = generate(
        model, labels, seq_len=model.cfg.seq_len, generator=generator, null_label=NUM_CLASSES,
        **kwargs,
    )  # fmt: skip
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ar-tiny")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--cfg", type=float, default=1.0, help="guidance scale (≠ 1 doubles the batch)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    torch.manual_seed(0)
    model = ARTransformer(ar_config(args.preset, grid=MNIST_GRID, num_classes=NUM_CLASSES)).eval()
    labels = torch.arange(args.batch) % NUM_CLASSES
    timed_generate(model, labels[:2], cfg=args.cfg)  # warm-up: allocator, kernels

    cached_s, cached = timed_generate(model, labels, cfg=args.cfg, use_cache=True)
    recompute_s, recomputed = timed_generate(model, labels, cfg=args.cfg, use_cache=False)
    tokens = model.cfg.seq_len * args.batch
    record = {
        "benchmark": "ar_kv_cache",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": f"cpu ({platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "preset": args.preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": args.batch,
        "seq_len": model.cfg.seq_len,
        "cfg": args.cfg,
        "kv_cache_s": round(cached_s, 3),
        "recompute_s": round(recompute_s, 3),
        "kv_cache_tokens_per_s": round(tokens / cached_s, 1),
        "recompute_tokens_per_s": round(tokens / recompute_s, 1),
        "speedup": round(recompute_s / cached_s, 2),
        "same_tokens": bool(torch.equal(cached, recomputed)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ar_kv_cache.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "ar_kv_cache.md").write_text(markdown(record))
    print(markdown(record))
    print(f"KV cache is {record['speedup']}× faster (target ≥ 20×)")


def markdown(r: dict) -> str:
    head = (
        f"# AR sampling: KV cache vs prefix recompute\n\n{r['preset']} ({r['parameters']:,} "
        f"parameters), batch {r['batch']}, {r['seq_len']} tokens, cfg {r['cfg']}, {r['device']}, "
        f"torch {r['torch']}, {r['threads']} thread(s), load average (before, after) "
        f"{r['load_average_1min']}, {r['date']}\n\n"
        "| method | seconds | tokens/s | speedup |\n| --- | ---: | ---: | ---: |\n"
    )
    rows = (
        f"| recompute prefix | {r['recompute_s']} | {r['recompute_tokens_per_s']} | 1.0× |\n"
        f"| KV cache | {r['kv_cache_s']} | {r['kv_cache_tokens_per_s']} | {r['speedup']}× |\n"
    )
    return head + rows + f"\nBoth draw the same tokens: {r['same_tokens']}\n"


if __name__ == "__main__":
    main()
