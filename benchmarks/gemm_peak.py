"""GEMM peak of this machine (fp32 and bf16 square matmuls) and trigen's training MFU against it.

    python benchmarks/gemm_peak.py [--threads N] [--batch 16] [--steps 5] [--device cpu|cuda]

MFU = (FLOPs of one training step, counted by trigen.eval.cost.count_flops: forward + backward,
2 FLOPs per multiply-accumulate) / (median step seconds) / (fp32 GEMM peak measured in the same
run). Writes benchmarks/results/gemm_peak[_<tag>].{json,md}.
"""

from __future__ import annotations

import argparse

import torch

from _common import (
    add_run_options,
    gemm_peak,
    interleaved,
    markdown_table,
    median,
    start_run,
    write,
)
from peers_train import CONFIGS, trigen_step
from trigen.eval.cost import count_flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        rate, size = gemm_peak(args.device, dtype)
        peaks[name] = {"gflops": round(rate, 1), "size": size}
        print(name, peaks[name], flush=True)
    rows = []
    for pair in ("dit", "unet", "ar"):
        family_name, preset, shape, _ = CONFIGS[pair]["tiny"]
        step, _ = trigen_step(family_name, preset, shape, args.batch, args.precision, args.device)
        sec = median(interleaved({"s": step}, steps=args.steps, warmup=1, device=args.device)["s"])
        flops = count_flops(step)
        achieved = flops / sec / 1e9
        rows.append(
            {
                "model": preset,
                "precision": args.precision,
                "batch": args.batch,
                "gflop_per_step": round(flops / 1e9, 2),
                "step_ms": round(1000 * sec, 1),
                "achieved_gflops": round(achieved, 1),
                "mfu_vs_fp32_peak": round(achieved / peaks["fp32"]["gflops"], 3),
                "mfu_vs_own_peak": round(achieved / peaks[args.precision]["gflops"], 3),
            }
        )
        print(rows[-1], flush=True)
    table = markdown_table(
        ["dtype", "GEMM peak GFLOP/s", "matmul side"],
        [[k, v["gflops"], v["size"]] for k, v in peaks.items()],
    )
    table += [
        "",
        *markdown_table(
            [
                "trigen model",
                "prec",
                "batch",
                "GFLOP/step",
                "step ms",
                "GFLOP/s",
                "MFU (fp32 peak)",
                "MFU (own peak)",
            ],
            [
                [
                    r["model"],
                    r["precision"],
                    r["batch"],
                    r["gflop_per_step"],
                    r["step_ms"],
                    r["achieved_gflops"],
                    f"{100 * r['mfu_vs_fp32_peak']:.1f}%",
                    f"{100 * r['mfu_vs_own_peak']:.1f}%",
                ]
                for r in rows
            ],
        ),
    ]
    record = {"environment": env, "gemm_peak": peaks, "rows": rows}
    write("gemm_peak" + (f"_{args.tag}" if args.tag else ""), record, table, args.out)


if __name__ == "__main__":
    main()
