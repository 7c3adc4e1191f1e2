"""Do finished 2-process gloo runs exit 0 on every rank, every time? Runs each job N times in a row.

    python benchmarks/dist_exit_stress.py [--runs 100] [--jobs ddp fsdp sample] [--tag T]

A job is one of the suite's two-process workers, launched as the suite launches it
(``python -m tests.distributed_helpers MODULE FUNCTION RANK WORLD PORT OUT_DIR``, one gloo
process group on CPU): ``ddp`` trains with DistributedDataParallel and resumes
(tests/train/test_distributed.py), ``fsdp`` trains sharded with FSDP2 and resumes
(tests/train/test_fsdp.py), ``sample`` draws images sharded over the ranks
(tests/test_sampling_dist.py). A run fails when any rank exits non-zero or outlives
``--timeout``; every failure is reported with each rank's exit code and output.

Writes benchmarks/results/dist_exit_stress[_<tag>].{json,md}. This is a stress tool, not a
test: it counts failures and asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import RESULTS, environment, markdown_table, write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ``tests`` is a package below the repository root

from tests.distributed_helpers import launch_workers  # noqa: E402

WORLD = 2
JOBS = {  # name: (worker module, worker function)
    "ddp": ("tests.train.test_distributed", "_worker"),
    "fsdp": ("tests.train.test_fsdp", "_worker"),
    "sample": ("tests.test_sampling_dist", "_worker"),
}
OUTPUT_TAIL = 4000  # characters of a failed rank's output kept in the results


def cpu_flags() -> list[str]:
    """Which of the instruction sets that change torch's CPU kernels this machine has."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    return sorted({flag for flag in ("amx_bf16", "avx512f", "avx2") if f" {flag}" in text})


def run_once(job: str, timeout_s: float) -> dict:
    """One 2-process run of ``job``: each rank's exit code, and its output when a rank failed."""
    module, function = JOBS[job]
    with tempfile.TemporaryDirectory(prefix=f"stress-{job}-") as out:
        start = time.perf_counter()
        codes, outputs = launch_workers(module, function, WORLD, Path(out), timeout_s)
        seconds = time.perf_counter() - start
    record = {"exit_codes": codes, "seconds": round(seconds, 1)}
    if any(code != 0 for code in codes):
        record["outputs"] = [o[-OUTPUT_TAIL:] for o in outputs]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="consecutive runs of each job")
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=list(JOBS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--tag", default="", help="suffix of the result files (e.g. before)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = environment(torch.device("cpu"), threads=1)  # each rank sets one thread
    env["cpu_flags"] = cpu_flags()
    results: dict[str, list[dict]] = {}
    for job in args.jobs:
        results[job] = []
        for i in range(args.runs):
            record = run_once(job, args.timeout)
            results[job].append(record)
            status = "ok" if "outputs" not in record else "FAILED"
            print(f"{job} {i + 1}/{args.runs}: exit codes {record['exit_codes']} {status}")
            for rank, output in enumerate(record.get("outputs", [])):
                print(f"--- rank {rank} (exit {record['exit_codes'][rank]}):\n{output}")
            sys.stdout.flush()
    summary = {
        job: {"runs": len(rs), "failed": sum("outputs" in r for r in rs)}
        for job, rs in results.items()
    }
    rows = [
        [job, s["runs"], s["failed"], f"{s['failed'] / s['runs']:.1%}"]
        for job, s in summary.items()
    ]
    command = (
        f"python benchmarks/dist_exit_stress.py --runs {args.runs} --jobs {' '.join(args.jobs)}"
    )
    table = [f"`{command}`, CPU flags: {', '.join(env['cpu_flags']) or 'none'}", ""]
    table += markdown_table(["job", "runs", "failed", "failure rate"], rows)
    for job, rs in results.items():
        for i, r in enumerate(rs):
            for rank, output in enumerate(r.get("outputs", [])):
                table += [
                    "",
                    f"## {job} run {i + 1}, rank {rank}: exit {r['exit_codes'][rank]}",
                    "",
                ]
                table += ["```", output.strip(), "```"]
    name = "dist_exit_stress" + (f"_{args.tag}" if args.tag else "")
    record = {"environment": env, "command": command, "summary": summary, "runs": results}
    write(name, record, table, args.out)
    for job, s in summary.items():
        print(f"{job}: {s['failed']} of {s['runs']} runs failed")


if __name__ == "__main__":
    main()
