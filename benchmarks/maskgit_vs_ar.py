"""MaskGIT (masked parallel decoding) against the raster pixel transformer with a KV cache.

MNIST at 16 px. Both families train for the same CPU time (``--cpu-minutes`` of process CPU
time each, one torch thread, the two runs side by side in two processes), with the comparison's
recipe for each (``trigen.compare.settings.FAMILY_TRAINING``). Then, in this process:

* quality: ``--samples`` images per setting, class accuracy and domain FID (domain classifier)
  for MaskGIT at several decoding steps K and for AR, with and without guidance; Inception
  FID / KID (with their sample and reference counts) of the headline setting of each;
* speed at 16 px: seconds per image of a whole sampling call at batch 1 (latency) and at
  ``--batch`` (throughput), both trained networks, medians of repeated calls;
* latency against resolution at fixed K: untrained networks of both presets at 16 / 32 / 64 px,
  batch 1 (weights do not change what a pass costs), with each one's log-log exponent.

Writes ``benchmarks/results/maskgit_vs_ar.{json,md}``. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/maskgit_vs_ar.py [--cpu-minutes 5]

``--speed-only --device cuda --tag gpu`` skips training and quality and times untrained networks
only (weights do not change what a pass costs): batch 1 and ``--batch`` at 16 px with guidance,
and the resolution sweep, on the GPU, synchronised; writes ``maskgit_vs_ar_speed_<tag>``. The K
to time at equal quality comes from the CPU run's quality table (``--headline-steps``).

A benchmark, not a test: nothing here asserts a time or a quality.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from _common import environment, markdown_table, write
from trigen import api
from trigen.build import DataSpec, build_family
from trigen.compare.settings import FAMILY_TRAINING
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import load_dataset
from trigen.families.base import SampleSpec
from trigen.measure.evaluators import Evaluators
from trigen.measure.samples import generate
from trigen.measure.stats import loglog_slope
from trigen.sampling import class_labels

RESOLUTION = 16
NUM_CLASSES = 10
FAMILIES = (FamilyName.MASKGIT, FamilyName.AR)


def train_config(name: FamilyName, seed: int) -> TrainConfig:
    """The comparison's recipe for ``name`` at 16 px, no wall-clock budget (CPU time stops it)."""
    return TrainConfig.from_dict(
        {
            "family": name,
            "dataset": "mnist",
            "resolution": RESOLUTION,
            "seed": seed,
            "max_images": 10**8,
            "ema_halflife_images": 2000.0,
            "warmup_images": 1000,
            "log_every": 20,
            "checkpoint_every": 10**9,
            **FAMILY_TRAINING[name],
        }
    )


def train_for_cpu_time(name: str, run_dir: str, cpu_minutes: float, seed: int) -> None:
    """Train family ``name`` into ``run_dir`` until this process has used ``cpu_minutes``."""
    torch.set_num_threads(1)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    result = api.train(
        train_config(FamilyName(name), seed),
        Path(run_dir),
        device="cpu",
        should_stop=lambda: time.process_time() - start_cpu >= 60 * cpu_minutes,
    )
    cpu = time.process_time() - start_cpu
    wall = time.perf_counter() - start_wall
    summary = f"{result.images_seen} {cpu:.1f} {wall:.1f} {result.last_loss:.4f}"
    (Path(run_dir) / "budget.txt").write_text(summary + "\n")


def start_training(out: Path, cpu_minutes: float, seed: int) -> dict:
    """One process per family, each training for ``cpu_minutes`` of its own CPU time."""
    ctx = multiprocessing.get_context("spawn")
    procs = {
        name.value: ctx.Process(
            target=train_for_cpu_time, args=(name.value, str(out / name.value), cpu_minutes, seed)
        )
        for name in FAMILIES
    }
    for p in procs.values():
        p.start()
    return procs


def finish_training(out: Path, procs: dict) -> dict[str, dict]:
    for name, p in procs.items():
        p.join()
        if p.exitcode:
            raise SystemExit(f"training {name} failed (exit {p.exitcode})")
    budgets = {}
    for name in procs:
        images, cpu, wall, loss = (out / name / "budget.txt").read_text().split()
        budgets[name] = {
            "images_seen": int(images),
            "cpu_seconds": float(cpu),
            "wall_seconds": float(wall),
            "final_loss": float(loss),
            "loss_unit": "nats per masked token" if name == "maskgit" else "nats per image",
        }
    return budgets


def seconds_per_image(family, labels: torch.Tensor, spec: SampleSpec, repeats: int) -> dict:
    """Median (min, max) seconds per image of ``repeats`` whole sampling calls after a warm-up,
    on the device of ``family``'s network (CUDA work is synchronised before the clock stops)."""
    device = next(family.net.parameters()).device
    labels = labels.to(device)

    def call() -> float:
        gen = torch.Generator(device).manual_seed(0)
        start = time.perf_counter()
        with torch.inference_mode():
            family.sample(labels, spec, gen)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) / len(labels)

    call()
    times = [call() for _ in range(repeats)]
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "repeats": repeats, "batch": len(labels)}  # fmt: skip


def quality_points(runs, ev: Evaluators, args) -> list[dict]:
    """Domain metrics of every setting; Inception FID/KID of the headline setting of each."""
    labels = class_labels(NUM_CLASSES, args.samples)
    settings = [("ar", None, cfg) for cfg in (1.0, args.cfg)]
    settings += [("maskgit", args.headline_steps, cfg) for cfg in (1.0, args.cfg)]
    settings += [("maskgit", k, args.cfg) for k in args.steps if k != args.headline_steps]
    points = []
    for name, steps, cfg in settings:
        spec = SampleSpec(steps=steps or 1, cfg=cfg)
        start = time.perf_counter()
        images = generate(runs[name].family, labels, spec, seed=0, batch=args.batch)
        seconds = time.perf_counter() - start
        headline = cfg == args.cfg and steps in (None, args.headline_steps)
        metrics = ev.quality(images, labels) if headline else ev.domain_quality(images, labels)
        points.append({"family": name, "steps": steps, "cfg": cfg, "samples": len(images),
                       "seconds_per_image_at_batch": seconds / len(images),
                       "sampling_batch": args.batch, "inception": headline, **metrics})  # fmt: skip
        print(f"{name} K={steps} cfg={cfg}: class acc {metrics['cond_accuracy']:.3f}, "
              f"domain FID {metrics['domain_fid']:.1f}", flush=True)  # fmt: skip
    return points


def untrained(name: FamilyName, resolution: int, device: str):
    """A freshly initialised family of the benchmark's recipe, in eval mode on ``device``."""
    cfg = dataclasses.replace(train_config(name, 0), resolution=resolution)
    family = build_family(cfg, DataSpec((1, resolution, resolution), NUM_CLASSES))
    family.net.to(device).eval()
    return family


def latency_sweep(args) -> list[dict]:
    """Seconds per image (batch 1) of untrained networks of both presets at each resolution."""
    rows = []
    for name in FAMILIES:
        for res in args.resolutions:
            family = untrained(name, res, args.device)
            spec = SampleSpec(steps=args.headline_steps)
            t = seconds_per_image(family, torch.zeros(1, dtype=torch.long), spec, args.repeats)
            tokens = res * res
            steps = min(args.headline_steps, tokens) if name is FamilyName.MASKGIT else tokens
            rows.append({"family": name.value, "resolution": res, "tokens": tokens,
                         "network_calls": steps, "seconds": t})  # fmt: skip
            print(f"latency {name.value} {res} px: {t['median']:.3f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reference", type=int, default=1000, help="test images for FID/KID")
    parser.add_argument("--steps", type=int, nargs="+", default=[8], help="other K, with cfg")
    parser.add_argument("--headline-steps", type=int, default=12)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-maskgit"))
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/cache"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--device", default="cpu", help="where --speed-only times (cpu | cuda)")
    parser.add_argument("--speed-only", action="store_true", help="untrained timing only")
    parser.add_argument("--tag", default="", help="suffix of the --speed-only result files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.speed_only:
        speed_only(args)
        return
    if args.device != "cpu":
        raise SystemExit("training and quality run on the CPU; use --speed-only for a GPU")
    env = environment(torch.device("cpu"), 1)
    env["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    wall_start = time.perf_counter()
    procs = start_training(args.runs, args.cpu_minutes, args.seed)
    train = load_dataset("mnist", "train", resolution=RESOLUTION)
    test = load_dataset("mnist", "test", resolution=RESOLUTION)
    # the instruments are built meanwhile (the training runs count CPU time, not wall time)
    ev = Evaluators.build(train, test, reference_images=args.reference, cache_dir=args.cache_dir,
                          domain_images=120_000, device=torch.device("cpu"), log=print)  # fmt: skip
    budgets = finish_training(args.runs, procs)
    runs = {name.value: api.load(args.runs / name.value, device="cpu") for name in FAMILIES}
    quality = quality_points(runs, ev, args)
    one = torch.zeros(1, dtype=torch.long)
    speed = {}
    for name, steps in (("ar", None), ("maskgit", args.headline_steps)):
        spec = SampleSpec(steps=steps or 1, cfg=args.cfg)
        at_batch = next(
            q["seconds_per_image_at_batch"]
            for q in quality
            if q["family"] == name and q["steps"] == steps and q["cfg"] == args.cfg
        )
        speed[name] = {
            "batch_1": seconds_per_image(runs[name].family, one, spec, args.repeats),
            # the quality run's own sampling: one pass over all samples at the sampling batch
            f"batch_{args.batch}": {"median": at_batch, "repeats": 1, "batch": args.batch},
        }
    latency = latency_sweep(args)
    exponents = _exponents(latency)
    record = {
        "environment": env,
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/maskgit_vs_ar.py "
        + " ".join(sys.argv[1:]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "recipes": {n.value: FAMILY_TRAINING[n] for n in FAMILIES},
        "training": budgets,
        "quality": quality,
        "speed_16px": speed,
        "latency_vs_resolution": latency,
        "latency_exponents": exponents,
        "wall_seconds": time.perf_counter() - wall_start,
    }
    write("maskgit_vs_ar", record, tables(record, args), out=args.out)


def speed_only(args) -> None:
    """Untrained networks on ``args.device``: 16 px speed at batch 1 and ``args.batch`` with
    guidance, then the resolution sweep; writes ``maskgit_vs_ar_speed_<tag>``."""
    wall_start = time.perf_counter()
    device = torch.device(args.device)
    env = environment(device, torch.get_num_threads())
    speed = {}
    for name in FAMILIES:
        family = untrained(name, RESOLUTION, args.device)
        spec = SampleSpec(steps=args.headline_steps, cfg=args.cfg)
        speed[name.value] = {
            f"batch_{b}": seconds_per_image(family, class_labels(NUM_CLASSES, b), spec,
                                            args.repeats)
            for b in (1, args.batch)
        }  # fmt: skip
        print(f"{name.value}: {speed[name.value]}", flush=True)
    latency = latency_sweep(args)
    record = {
        "environment": env,
        "command": "python benchmarks/maskgit_vs_ar.py " + " ".join(sys.argv[1:]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "speed_16px": speed,
        "latency_vs_resolution": latency,
        "latency_exponents": _exponents(latency),
        "wall_seconds": time.perf_counter() - wall_start,
    }
    name = "maskgit_vs_ar_speed" + (f"_{args.tag}" if args.tag else "")
    lines = [f"Command: `{record['command']}` (untrained networks)", ""]
    write(name, record, lines + speed_tables(record, args), out=args.out)


def _exponents(latency: list[dict]) -> dict:
    return {
        name: loglog_slope(
            f"{name} latency ∝ tokens^k",
            [r["tokens"] for r in latency if r["family"] == name],
            [r["seconds"]["median"] for r in latency if r["family"] == name],
        ).to_dict()
        for name in ("maskgit", "ar")
    }


def _f(x, spec=".3g") -> str:
    return "—" if x is None else format(x, spec)


def tables(record: dict, args) -> list[str]:
    lines = [f"Command: `{record['command']}`", "", "## Training (equal CPU time)", ""]
    lines += markdown_table(
        ["family", "images seen", "CPU s", "wall s", "final loss"],
        [[n, b["images_seen"], f"{b['cpu_seconds']:.0f}", f"{b['wall_seconds']:.0f}",
          f"{b['final_loss']:.3f} {b['loss_unit']}"] for n, b in record["training"].items()],
    )  # fmt: skip
    lines += ["", f"## Quality ({args.samples} samples per setting)", ""]
    lines += markdown_table(
        ["family", "K", "cfg", "class acc.", "domain FID [95 %]", "FID [95 %]", "KID ×1e3",
         "s/image at batch"],
        [[q["family"], q["steps"] or "—", q["cfg"], _f(q["cond_accuracy"]),
          f"{_f(q['domain_fid'])} [{_f(q['domain_fid_low'])}, {_f(q['domain_fid_high'])}]",
          f"{_f(q.get('fid'))} [{_f(q.get('fid_low'))}, {_f(q.get('fid_high'))}]"
          if q["inception"] else "—",
          _f(q.get("kid_x1000")) if q["inception"] else "—",
          f"{q['seconds_per_image_at_batch']:.4f} ({q['sampling_batch']})"]
         for q in record["quality"]],
    )  # fmt: skip
    inception = [q for q in record["quality"] if q["inception"]]
    if inception:
        q = inception[0]
        lines += ["", f"FID/KID: {q['fid_samples']} samples vs {q['fid_reference_images']} "
                  "MNIST test images (Inception-v3 pool3)."]  # fmt: skip
    return lines + speed_tables(record, args)


def speed_tables(record: dict, args) -> list[str]:
    """The 16 px speed table, the resolution sweep and its exponents."""
    lines = []
    speed = record["speed_16px"]
    lines += ["", f"## Sampling speed at 16 px (cfg {args.cfg}, MaskGIT K = "
              f"{args.headline_steps})", ""]  # fmt: skip
    rows = []
    for key in speed["ar"]:
        ar, mg = speed["ar"][key]["median"], speed["maskgit"][key]["median"]
        rows.append([key.replace("_", " "), f"{ar:.4f}", f"{mg:.4f}", f"{ar / mg:.2f}×"])
    lines += markdown_table(["", "AR (KV cache) s/image", "MaskGIT s/image", "AR ÷ MaskGIT"], rows)
    lines += ["", f"## Latency vs resolution (untrained, batch 1, MaskGIT K = "
              f"{args.headline_steps}, no guidance)", ""]  # fmt: skip
    by = {(r["family"], r["resolution"]): r for r in record["latency_vs_resolution"]}
    lines += markdown_table(
        ["px", "tokens", "AR s/image", "MaskGIT s/image", "AR ÷ MaskGIT"],
        [[res, res * res, f"{by['ar', res]['seconds']['median']:.3f}",
          f"{by['maskgit', res]['seconds']['median']:.3f}",
          f"{by['ar', res]['seconds']['median'] / by['maskgit', res]['seconds']['median']:.2f}×"]
         for res in args.resolutions],
    )  # fmt: skip
    lines += [""] + [
        f"- {e['name']}: {e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}] ({e['method']})"
        for e in record["latency_exponents"].values()
    ]
    lines += ["", f"Whole benchmark: {record['wall_seconds'] / 60:.1f} min wall."]
    return lines


if __name__ == "__main__":
    main()
