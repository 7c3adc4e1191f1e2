"""Samplers × σ grids × NFE on one trained diffusion checkpoint (quality per network evaluation).

    OMP_NUM_THREADS=2 python benchmarks/sampler_grid.py --checkpoint runs/unet [--samples 300]
        [--nfe 10 20 50] [--name unet16]

For every sampler (DDIM, DPM-Solver++(2M), DPM-Solver++(3M), Heun) on the family's default grid
and on EDM's Karras grid (ρ = 7), at each target NFE (Heun's 2n − 1 evaluations rounded to the
nearest odd count at or below the target), the same labels (classes cycling) and seed are sampled
and scored by the domain classifier: domain FID with a 95 % bootstrap interval over the samples,
class accuracy with a 95 % Wilson interval. It answers "is Heun on the Karras grid at NFE 10–20
at least as good as DDIM there?" and "is the best sampler at NFE 10 within 15 % of its NFE-50
domain FID?". Writes benchmarks/results/sampler_grid_<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from _common import RESULTS, environment, with_interval
from flow_vs_eps import score
from trigen import api
from trigen.data.datasets import load_dataset
from trigen.diffusion.samplers import Sampler, nfe
from trigen.eval.domain import DomainClassifier
from trigen.eval.hardware import host_info
from trigen.eval.stats import FeatureStats
from trigen.families.base import SampleSpec
from trigen.measure.samples import generate
from trigen.sampling import class_labels

SAMPLERS = (Sampler.DDIM, Sampler.DPMPP_2M, Sampler.DPMPP_3M, Sampler.HEUN)
GRIDS = (None, "karras")  # None: the family's own default for the sampler


def steps_for(sampler: Sampler, target_nfe: int) -> int:
    """The step count whose NFE is the largest not above ``target_nfe`` (at least one step)."""
    return max(1, (target_nfe + 1) // 2) if sampler is Sampler.HEUN else target_nfe


def run(args: argparse.Namespace) -> dict:
    loaded = api.load(args.checkpoint, device="cpu")
    family, cfg = loaded.family, loaded.config
    resolution = loaded.data.image_shape[1]
    train = load_dataset(cfg.dataset, "train", root=cfg.data_root, resolution=resolution)
    test = load_dataset(cfg.dataset, "test", root=cfg.data_root, resolution=resolution)
    domain = DomainClassifier.train_or_load(train, test, args.cache, seconds_budget=60.0)
    ref = FeatureStats.from_features(domain.features(test.images[: args.reference]))
    labels = class_labels(loaded.data.num_classes, args.samples)
    rows = []
    for sampler in SAMPLERS:
        grids = {grid or family.grid(sampler).value for grid in GRIDS}  # Heun's own is karras
        for grid in sorted(grids, key=lambda g: g == "karras"):
            for target in args.nfe:
                steps = steps_for(sampler, target)
                spec = SampleSpec(sampler.value, steps, grid=grid)
                start = time.perf_counter()
                images = generate(family, labels, spec, seed=args.seed, batch=100)
                rows.append(
                    {
                        "sampler": sampler.value,
                        "grid": grid,
                        "steps": steps,
                        "nfe": nfe(sampler, steps),
                        "seconds": time.perf_counter() - start,
                        **score(images, labels, domain, ref),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return {
        "env": environment(torch.device("cpu"), torch.get_num_threads()),
        "host": host_info().to_dict(),
        "checkpoint": str(args.checkpoint),
        "trained": {
            "family": cfg.family.value,
            "preset": cfg.preset,
            "objective": str(cfg.diffusion.objective),
            "prediction": str(cfg.diffusion.prediction),
            "resolution": resolution,
            "images_seen": loaded.images_seen,
        },
        "settings": {"samples": args.samples, "reference": args.reference, "seed": args.seed},
        "domain_classifier_test_accuracy": domain.info.get("test_accuracy"),
        "rows": rows,
    }


def markdown(record: dict, command: str) -> str:
    t, env, host = record["trained"], record["env"], record["host"]
    lines = [
        f"# Samplers × σ grids × NFE: {t['family']} {t['preset']} ({t['objective']}, "
        f"{t['prediction']}), MNIST {t['resolution']} px, {t['images_seen']:,} training images",
        "",
        f"Command: `{command}`  ",
        f"Machine: {host.get('cpu_model')} ({', '.join(host.get('isa', []))}), torch "
        f"{env['torch']}, {env['threads']} threads; {env['date']}.  ",
        f"Samples: {record['settings']['samples']} per row (classes cycling, seed "
        f"{record['settings']['seed']}), domain-classifier features vs "
        f"{record['settings']['reference']} test images (classifier test accuracy "
        f"{record['domain_classifier_test_accuracy']:.3f}). Intervals: 95 % (FID: bootstrap, "
        "accuracy: Wilson).",
        "",
        "| sampler | grid | steps | NFE | domain FID [95 %] | class accuracy [95 %] | s |",
        "| --- | --- | ---: | ---: | --- | --- | ---: |",
    ]
    for r in record["rows"]:
        lines.append(
            f"| {r['sampler']} | {r['grid']} | {r['steps']} | {r['nfe']} | "
            f"{with_interval(r, 'domain_fid', '.2f')} | "
            f"{with_interval(r, 'class_accuracy', '.3f')} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--name", default="checkpoint")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--reference", type=int, default=2000)
    parser.add_argument("--nfe", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    command = (
        f"python benchmarks/sampler_grid.py --checkpoint {args.checkpoint} --name {args.name} "
        f"--samples {args.samples} --nfe {' '.join(map(str, args.nfe))}"
    )
    record = run(args)
    record["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"sampler_grid_{args.name}.json").write_text(json.dumps(record, indent=1))
    (args.out / f"sampler_grid_{args.name}.md").write_text(markdown(record, command))
    print(markdown(record, command))


if __name__ == "__main__":
    main()
