"""Does ``trigen compare --resume`` end where an uninterrupted comparison ends, whatever moments
it was killed at? Kills and resumes a tiny comparison many times, each with its own seed.

    python benchmarks/compare_kill_stress.py [--runs 10] [--kills 3] [--seed 0] [--tag T]

The comparison is the one of tests/compare/kill_helpers.py (U-Net and DiT at 8 px, 64 images
each, two studies, claim C5: five pieces). It runs once uninterrupted; then, --runs times, it is
started, killed with SIGKILL at up to --kills random moments (``kill_rounds``: once a random
number of files appeared under its output, i.e. mid-training, mid-write or mid-measuring) and
resumed with ``--resume`` to the end, each run from seed --seed + i. A run
fails when a child fails or its results.json differs from the uninterrupted one's beyond the
fields it lists as volatile; the differing JSON Pointers are recorded. Every process runs on
one thread, as the tests do.

Writes benchmarks/results/compare_kill_stress[_<tag>].{json,md}. This is a stress tool, not a
test: it counts failures and asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import RESULTS, environment, markdown_table, write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ``tests`` is a package below the repository root

from tests.compare.kill_helpers import (  # noqa: E402
    PIECES,
    differences,
    finished_pieces,
    kill_rounds,
    stable,
    tiny,
)
from tests.reliability.helpers import PYTHON, subprocess_env  # noqa: E402

OUTPUT_TAIL = 4000  # characters of a failed child's output kept in the results


def run_to_end(argv: list[str]) -> tuple[int, str]:
    """``trigen argv`` in a child on one thread: its exit code and output."""
    done = subprocess.run(
        [PYTHON, "-m", "trigen", *argv], env=subprocess_env(), capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr


def killed_and_resumed(seed: int, kills: int, straight: Path, work: Path, timeout_s: float):
    """One run: killed at up to ``kills`` moments drawn from ``seed``, resumed to the end, and
    compared with the uninterrupted ``straight``; its record."""
    out, cache = work / "out", work / "cache"
    start = time.perf_counter()
    record: dict = {"seed": seed}
    try:
        deadline = time.monotonic() + timeout_s
        record["killed_after_pieces"] = kill_rounds(
            out, cache, random.Random(seed), kills, deadline, work
        )
    except (RuntimeError, TimeoutError) as err:
        record["error"] = str(err)[-OUTPUT_TAIL:]
        return record
    code, output = run_to_end(["compare", "--resume", "--out", str(out), "--cache-dir", str(cache)])
    record["seconds"] = round(time.perf_counter() - start, 1)
    if code != 0:
        record["error"] = f"the last resumption exited {code}:\n{output[-OUTPUT_TAIL:]}"
        return record
    record["pieces"] = finished_pieces(out)
    record["differing_fields"] = differences(stable(out), stable(straight))
    return record


def failed(record: dict) -> bool:
    return "error" in record or bool(record["differing_fields"]) or record["pieces"] != PIECES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="kill-and-resume runs")
    parser.add_argument("--kills", type=int, default=3, help="most kills per run")
    parser.add_argument("--seed", type=int, default=0, help="run i draws its kills from seed + i")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = environment(torch.device("cpu"), threads=1)
    with tempfile.TemporaryDirectory(prefix="compare-kill-") as tmp:
        straight = Path(tmp) / "straight"
        code, output = run_to_end(tiny(straight / "out", straight / "cache"))
        if code != 0:
            sys.exit(f"the uninterrupted comparison failed:\n{output[-OUTPUT_TAIL:]}")
        runs = []
        for i in range(args.runs):
            work = Path(tmp) / f"run-{i}"
            work.mkdir()
            record = killed_and_resumed(
                args.seed + i, args.kills, straight / "out", work, args.timeout
            )
            runs.append(record)
            status = "FAILED" if failed(record) else "same results"
            print(f"run {i + 1}/{args.runs} (seed {record['seed']}): killed after pieces "
                  f"{record.get('killed_after_pieces')} → {status}", flush=True)  # fmt: skip
    summary = {
        "runs": len(runs),
        "failed": sum(failed(r) for r in runs),
        "kills": sum(len(r.get("killed_after_pieces", [])) for r in runs),
    }
    command = (
        f"python benchmarks/compare_kill_stress.py --runs {args.runs} --kills {args.kills} "
        f"--seed {args.seed}"
    )
    rows = [
        [
            r["seed"],
            ", ".join(map(str, r.get("killed_after_pieces", []))) or "—",
            "error" if "error" in r else ", ".join(r["differing_fields"]) or "none",
        ]
        for r in runs
    ]
    table = [
        f"`{command}`: {summary['kills']} SIGKILLs over {summary['runs']} runs of {PIECES} "
        f"pieces, {summary['failed']} run(s) whose results differ from the uninterrupted one's",
        "",
        *markdown_table(["seed", "killed after N pieces had finished", "differing fields"], rows),
    ]
    for r in runs:
        if "error" in r:
            table += ["", f"## seed {r['seed']}", "", "```", r["error"].strip(), "```"]
    name = "compare_kill_stress" + (f"_{args.tag}" if args.tag else "")
    write(name, {"environment": env, "command": command, "summary": summary, "runs": runs},
          table, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
