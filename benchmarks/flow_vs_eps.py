"""Flow matching vs ε-prediction diffusion at equal training budget (MNIST 16 px, CPU).

    OMP_NUM_THREADS=1 python benchmarks/flow_vs_eps.py [--images 16000] [--samples 300]

Two U-Nets (``unet-tiny``, same seed, data order, batch, learning rate and EMA) train on the
same number of images with ``trigen``'s training API (the same network and batch cost the same
per image, so equal images is equal CPU time, about 2.5 CPU-minutes each on one AVX2 core,
whatever else the shared machine runs meanwhile): one with the diffusion objective and
ε-prediction (cosine schedule, min-SNR-5, trigen's defaults otherwise), one with flow
matching (velocity target on the straight path, logit-normal t). Both then sample with the
same first-order σ-space sampler (DDIM η = 0, which on the flow path *is* Euler's method, each
on its default grid: trailing timesteps for VP, uniform t for flow) at two NFEs, and the samples
are scored by the domain classifier (domain FID with a 95 % bootstrap interval, class accuracy
with a 95 % Wilson interval). Writes benchmarks/results/flow_vs_eps.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from _common import RESULTS, environment, with_interval
from trigen import api
from trigen.config import TrainConfig
from trigen.data.datasets import load_dataset
from trigen.eval.domain import DomainClassifier
from trigen.eval.fid import fid_with_interval
from trigen.eval.hardware import host_info
from trigen.eval.stats import FeatureStats
from trigen.families.base import SampleSpec
from trigen.measure.intervals import wilson_interval
from trigen.measure.samples import generate
from trigen.sampling import class_labels

RESOLUTION = 16
RECIPE = {  # trigen compare's U-Net recipe for short CPU runs
    "family": "unet",
    "dataset": "mnist",
    "resolution": RESOLUTION,
    "lr": 2e-3,
    "batch_size": 64,
    "ema_halflife_images": 2000.0,
    "warmup_images": 1000,
    "log_every": 10,
    "checkpoint_every": 10**9,
}
OBJECTIVES = {
    "ε-prediction (VP cosine, min-SNR 5)": {"prediction": "eps"},
    "flow matching (velocity, logit-normal t)": {"objective": "flow"},
}


def score(images, labels, domain: DomainClassifier, ref: FeatureStats) -> dict:
    fid = fid_with_interval(domain.features(images), ref, resamples=100)
    hits = int((domain.predict(images) == labels).sum())
    low, high = wilson_interval(hits, len(labels))
    return {
        "domain_fid": fid.value,
        "domain_fid_low": fid.low,
        "domain_fid_high": fid.high,
        "class_accuracy": hits / len(labels),
        "class_accuracy_low": low,
        "class_accuracy_high": high,
        "samples": len(labels),
    }


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    record = {"env": environment(torch.device("cpu"), 1), "settings": dict(vars(args))}
    record["host"] = host_info().to_dict()
    record["settings"]["out"] = str(args.out)
    train = load_dataset("mnist", "train", resolution=RESOLUTION)
    test = load_dataset("mnist", "test", resolution=RESOLUTION)
    domain = DomainClassifier.train_or_load(train, test, args.cache, seconds_budget=40.0)
    ref = FeatureStats.from_features(domain.features(test.images[: args.reference]))
    labels = class_labels(train.num_classes, args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in OBJECTIVES.items():
            cfg = TrainConfig.from_dict(
                RECIPE | {"max_images": args.images, "seed": args.seed, "diffusion": options}
            )
            result = api.train(cfg, Path(tmp) / str(len(rows)), device="cpu")
            family = api.load(Path(tmp) / str(len(rows))).family  # EMA weights
            for steps in args.nfe:
                start = time.perf_counter()
                images = generate(family, labels, SampleSpec("ddim", steps), seed=0, batch=100)
                rows.append(
                    {
                        "objective": name,
                        "images_seen": result.images_seen,
                        "train_seconds": result.seconds,
                        "final_loss": result.last_loss,
                        "sampler": "ddim η=0 (= Euler)",
                        "nfe": steps,
                        "sample_seconds": time.perf_counter() - start,
                        **score(images, labels, domain, ref),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    record["rows"] = rows
    record["domain_classifier_test_accuracy"] = domain.info.get("test_accuracy")
    return record


def markdown(record: dict, command: str) -> str:
    env = record["env"]
    lines = [
        "# Flow matching vs ε-prediction at equal budget (MNIST 16 px, U-Net tiny)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {record['host'].get('cpu_model')} ({', '.join(record['host'].get('isa', []))}"
        f"), torch {env['torch']}, 1 thread: a shared 2-core AMD EPYC, AVX2 only, no AVX-512, "
        f"other jobs on the cores; load average at start {env['load_average_start']}; "
        f"{env['date']}.  ",
        f"Budget: {record['settings']['images']:,} training images each (equal CPU time; the "
        "wall seconds are in the JSON), same seed, batch 64, lr 2e-3, EMA half-life 2,000 "
        "images. Samples: "
        f"{record['settings']['samples']} per row (classes cycling), domain-classifier features "
        f"vs {record['settings']['reference']} test images; classifier test accuracy "
        f"{record['domain_classifier_test_accuracy']:.3f}. Intervals: 95 % (FID: bootstrap, "
        "accuracy: Wilson).",
        "",
        "| objective | images seen | final loss | NFE | domain FID [95 %] "
        "| class accuracy [95 %] |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in record["rows"]:
        lines.append(
            f"| {r['objective']} | {r['images_seen']:,} | {r['final_loss']:.4f} | {r['nfe']} | "
            f"{with_interval(r, 'domain_fid', '.2f')} | "
            f"{with_interval(r, 'class_accuracy', '.3f')} |"
        )
    lines += [
        "",
        "The two losses are not comparable (ε-MSE with min-SNR weights vs velocity MSE). "
        "Both samplers are first-order: DDIM η = 0 on the VP model, Euler on the flow model "
        "(the same σ-space update).",
    ]
    if "wall_seconds" in record:
        lines += ["", f"Total wall time: {record['wall_seconds'] / 60:.1f} minutes."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--reference", type=int, default=2000)
    parser.add_argument("--nfe", type=int, nargs="+", default=[10, 25])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    command = "OMP_NUM_THREADS=1 python benchmarks/flow_vs_eps.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in (("images", args.images), ("samples", args.samples), ("nfe", args.nfe))
    )
    start = time.perf_counter()
    record = run(args)
    record["command"] = command
    record["wall_seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "flow_vs_eps.json").write_text(json.dumps(record, indent=1, default=str))
    (args.out / "flow_vs_eps.md").write_text(markdown(record, command))
    print(markdown(record, command))


if __name__ == "__main__":
    main()
