"""Quality per CPU-minute at 28 px on several training seeds (issue 27): the README's rows rerun at
a fixed image budget, each family trained once per seed, FID@1k against the full 10k test set.

    python benchmarks/quality28.py [--seeds 0,1,2] [--images unet=200000,dit=215000]
        [--work runs/q28] [--reference-images 10000] [--fid-samples 1000]

The recipe is the README's "Quality per CPU-minute at 28 px" (flow matching, EMA half-life 10k
images, warm-up 1k, lr cooldown 0.3, Euler 50 steps, cfg 1); the budget is images, not minutes:
what the README's 15 minutes bought on its reference CPU (AMD EPYC, AVX-512, 2 threads: U-Net
229k and 172k images, DiT-T/4 232k and 197k on two seeds), rounded to their means, so every host
trains the same work. Each seed's two runs are measured by one ``trigen compare --reuse``; the
headline is the mean over seeds with a t 95 % interval over seeds (each seed's FID and its
bootstrap interval beside it) and the targets on the mean: U-Net FID@1k ≤ 23, DiT ≤ 28.

Resumable: a seed whose run directory holds a finished run, or whose comparison wrote its
results, is not trained or measured again (delete it to redo it). Writes
benchmarks/results/quality28[_<tag>].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from _common import add_run_options, markdown_table, start_run, write
from trigen.measure.stats import seeds_interval

IMAGES = {"unet": 200_000, "dit": 215_000}
TARGETS = {"unet": 23.0, "dit": 28.0}  # FID@1k vs the 10k test set, on the mean over seeds
SHARED = [
    "--resolution", "28", "--lr", "2e-3",
    "--set", "diffusion.objective=flow", "--set", "ema_halflife_images=10000",
    "--set", "warmup_images=1000", "--set", "lr_cooldown=0.3",
]  # fmt: skip
RECIPES = {
    "unet": ["--family", "unet", "--batch-size", "64"],
    "dit": [
        "--family", "dit", "--model", "DiT-T/4", "--batch-size", "32",
        "--set", "model_overrides.rope=true",
    ],
}  # fmt: skip
DONE = "quality28.done"
HEADLINE = ("fid", "kid_x1000", "domain_fid", "cond_accuracy", "precision", "recall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--images", default=",".join(f"{k}={v}" for k, v in IMAGES.items()),
        help="training images per family, family=N,…",
    )  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("runs/q28"))
    parser.add_argument("--reference-images", type=int, default=10_000)
    parser.add_argument("--fid-samples", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--preset", default="hour", help="the comparison measuring each seed")
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    images = {k: int(v) for k, v in (item.split("=") for item in args.images.split(","))}
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = {seed: measure_seed(seed, images, args) for seed in seeds}
    record = {
        "environment": env,
        "settings": {**vars(args), "work": str(args.work), "out": str(args.out),
                     "cache": str(args.cache), "device": str(args.device), "images": images},
        "per_seed": per_seed,
        "families": {f: summary(f, per_seed) for f in images},
    }  # fmt: skip
    rows = [row(f, record["families"][f], images[f]) for f in images]
    fid = f"FID@{args.fid_samples} vs {args.reference_images} test images"
    header = ["family", "images", f"{fid}: mean [t 95 % over seeds]", "per seed", "target", "met"]
    write("quality28" + (f"_{args.tag}" if args.tag else ""), record, markdown_table(header, rows),
          args.out)  # fmt: skip


def trigen(*argv: str) -> None:
    """``trigen argv`` in this Python, failing loudly with its own message."""
    done = subprocess.run([sys.executable, "-m", "trigen", *argv], check=False)
    if done.returncode != 0:
        raise SystemExit(f"trigen {' '.join(argv[:3])} … failed with exit code {done.returncode}")


def measure_seed(seed: int, images: dict[str, int], args: argparse.Namespace) -> dict:
    """Train (or find) each family's run of ``seed`` and measure them in one comparison."""
    reuse = []
    for family, n in images.items():
        run = args.work / f"{family}-seed{seed}"
        done = run / DONE  # written once its training returned: a killed one trains again
        if not done.is_file():
            shutil.rmtree(run, ignore_errors=True)
            trigen("train", *RECIPES[family], *SHARED, "--images", str(n), "--seed", str(seed),
                   "--out", str(run), "--device", str(args.device), "--quiet")  # fmt: skip
            done.write_text(f"{n} images, seed {seed}\n")
        reuse += ["--reuse", f"{family}={run}"]
    out = args.work / f"compare-seed{seed}"
    results = out / "results.json"
    if not results.is_file():
        trigen("compare", "--preset", args.preset, "--resolution", "28",
               "--families", ",".join(images), *reuse,
               "--reference-images", str(args.reference_images), "--fid-samples",
               str(args.fid_samples), "--studies", "", "--claims", "none", "--seed", str(seed),
               "--cache-dir", str(args.cache), "--device", str(args.device), "--out", str(out),
               "--quiet")  # fmt: skip
    families = json.loads(results.read_text())["families"]
    return {
        f: {
            "images_seen": families[f]["train"]["images_seen"],
            "fid_interval": [families[f]["quality"]["fid_low"], families[f]["quality"]["fid_high"]],
            **{k: families[f]["quality"].get(k) for k in HEADLINE},
            "fid_samples": families[f]["quality"]["fid_samples"],
        }
        for f in images
    }


def summary(family: str, per_seed: dict[int, dict]) -> dict:
    """``family``'s headline numbers as the mean over seeds with a t interval over seeds."""
    out = {}
    for key in HEADLINE:
        values = [r[family][key] for r in per_seed.values() if r[family].get(key) is not None]
        if values:
            out[key] = seeds_interval(f"{family} {key}", values).to_dict()
    fid = out["fid"]["value"]
    target = TARGETS.get(family, float("inf"))
    each = [r[family]["fid"] for r in per_seed.values()]
    return {**out, "per_seed_fid": each, "target": target, "met": fid <= target}


def row(family: str, s: dict, images: int) -> list[str]:
    fid = s["fid"]
    low, high = fid["low"], fid["high"]
    interval = "n/a" if low is None else f"[{low:.1f}, {high:.1f}]"
    each = ", ".join(f"{v:.1f}" for v in s["per_seed_fid"])
    return [family, f"{images:,}", f"{fid['value']:.1f} {interval}", f"{each} (n = {fid['n']})",
            f"≤ {s['target']:g}", "yes" if s["met"] else "no"]  # fmt: skip


if __name__ == "__main__":
    main()
