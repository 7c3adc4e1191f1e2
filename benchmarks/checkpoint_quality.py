"""FID / KID / precision–recall / domain metrics of one trained checkpoint under several
sampling settings, against the cached test-set references (no training, no report).

    OMP_NUM_THREADS=2 python benchmarks/checkpoint_quality.py --checkpoint runs/q28/dit \
        --samples 1000 --reference-images 10000 --spec euler:50 --spec heun:25:linspace \
        [--cfg 1 3] [--name dit28]

Each ``--spec`` is ``SAMPLER:STEPS[:GRID]`` (``euler`` is DDIM with η = 0; autoregressive
families ignore it, MaskGIT reads STEPS as its decoding steps), sampled at each ``--cfg`` scale.
Every row samples the same labels (classes cycling) with the same seed, so rows differ only by
the sampling settings. FID
carries a 95 % bootstrap interval over the samples; class accuracy a 95 % Wilson interval.
Writes benchmarks/results/checkpoint_quality_<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from _common import RESULTS, environment, with_interval
from trigen import api
from trigen.data.datasets import load_dataset
from trigen.diffusion.samplers import Sampler, nfe
from trigen.eval.hardware import host_info
from trigen.families.base import SampleSpec
from trigen.measure.evaluators import Evaluators
from trigen.measure.samples import generate
from trigen.sampling import class_labels

ALIASES = {"euler": Sampler.DDIM.value}


def parse_spec(text: str, cfg: float) -> SampleSpec:
    """``SAMPLER:STEPS[:GRID]`` → a :class:`SampleSpec` at guidance ``cfg``."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"--spec {text!r}: expected SAMPLER:STEPS[:GRID]")
    sampler = ALIASES.get(parts[0], parts[0])
    grid = parts[2] if len(parts) == 3 else None
    return SampleSpec(sampler, int(parts[1]), grid=grid, cfg=cfg)


def run(args: argparse.Namespace) -> dict:
    loaded = api.load(args.checkpoint, device="cpu")
    cfg = loaded.config
    resolution = loaded.data.image_shape[1]
    train = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=resolution)
    test = load_dataset(cfg.dataset, "test", root=cfg.data_root, resolution=resolution)
    evaluators = Evaluators.build(
        train,
        test,
        reference_images=args.reference_images,
        cache_dir=args.cache,
        domain_images=120_000,
        device=torch.device("cpu"),
        log=print,
    )
    labels = class_labels(loaded.data.num_classes, args.samples)
    rows = []
    family = loaded.family
    diffusion = hasattr(family, "grid")
    for text, scale in itertools.product(args.spec, args.cfg):
        spec = parse_spec(text, scale)
        start = time.perf_counter()
        images = generate(family, labels, spec, seed=args.seed, batch=args.batch)
        seconds = time.perf_counter() - start
        row = {
            "spec": text,
            "sampler": family.sampler_description(spec),
            "steps": spec.steps,
            "grid": family.grid(Sampler(spec.sampler), spec.grid).value if diffusion else "—",
            "nfe": nfe(Sampler(spec.sampler), spec.steps) if diffusion else None,
            "cfg": spec.cfg,
            "sample_s": seconds,
            **evaluators.quality(images, labels),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {
        "checkpoint": str(args.checkpoint),
        "config": cfg.to_dict(),
        "samples": args.samples,
        "seed": args.seed,
        "environment": environment(torch.device("cpu"), torch.get_num_threads()),
        "host": host_info().to_dict(),
        "rows": rows,
    }


def markdown(result: dict) -> str:
    host = result["host"]
    lines = [
        f"# Sample quality of `{result['checkpoint']}` by sampler",
        "",
        f"{result['samples']} samples (classes cycling, seed {result['seed']}) against "
        f"{result['rows'][0]['fid_reference_images']} test images; {host['cpu_model']} "
        f"({', '.join(host['isa'])}), {host['torch_threads']} threads.",
        "",
        "| sampler | grid | NFE | cfg | FID [95 %] | KID ×1e3 | precision / recall "
        "| domain FID [95 %] | class acc. [95 %] | sampling s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['sampler']} | {r['grid']} | {r['nfe'] or '—'} | {r['cfg']:g} "
            f"| {with_interval(r, 'fid', '.1f')} "
            f"| {r['kid_x1000']:.1f} ± {r['kid_std_x1000']:.1f} "
            f"| {r['precision']:.2f} / {r['recall']:.2f} "
            f"| {with_interval(r, 'domain_fid', '.1f')} "
            f"| {with_interval(r, 'cond_accuracy', '.3f')} | {r['sample_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--spec", action="append", required=True, help="SAMPLER:STEPS[:GRID]")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--reference-images", type=int, default=10000)
    parser.add_argument("--cfg", type=float, nargs="+", default=[1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    result = run(args)
    name = args.name or args.checkpoint.name
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"checkpoint_quality_{name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"checkpoint_quality_{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
