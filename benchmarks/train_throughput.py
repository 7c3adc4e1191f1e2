"""Training throughput (img/s) of trigen's presets through the real training step, fp32 vs bf16.

    python benchmarks/train_throughput.py [--families unet,dit,ar,pixelcnn] [--threads 2]

Writes benchmarks/results/train_throughput.{json,md}. Median over timed steps after warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, Precision, TrainConfig
from trigen.eval.cost import count_parameters
from trigen.train.loop import Trainer

RESULTS = Path(__file__).parent / "results"


class RandomLoader:
    """Fixed random MNIST-shaped batches: measures the step, not the data pipeline."""

    def __init__(self, batch: int, shape: tuple[int, int, int]) -> None:
        g = torch.Generator().manual_seed(0)
        self.batch = Batch(
            torch.rand(batch, *shape, generator=g) * 2 - 1, torch.randint(10, (batch,), generator=g)
        )

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        return self.batch

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def measure(family: FamilyName, precision: Precision, batch: int, steps: int, tmp: Path) -> dict:
    cfg = TrainConfig(family=family, batch_size=batch, precision=precision, max_steps=10**6)
    spec = DataSpec((1, 28, 28), 10)
    torch.manual_seed(0)
    fam = build_family(cfg, spec)
    trainer = Trainer(fam, RandomLoader(batch, spec.image_shape), cfg, tmp)
    for _ in range(3):
        trainer.train_step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    return {
        "family": family.value,
        "preset": cfg.preset,
        "precision": precision.value,
        "params": count_parameters(fam.net),
        "batch": batch,
        "images_per_s": batch / step,
        "step_ms": 1000 * step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", default="unet,dit,ar,pixelcnn")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for fam in args.families.split(","):
        for prec in args.precisions.split(","):
            row = measure(
                FamilyName(fam), Precision(prec), args.batch, args.steps, Path("/tmp/trigen-bench")
            )
            row["threads"] = args.threads
            print(row, flush=True)
            rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "| family | preset | params | precision | threads | batch | img/s | step ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['family']} | {r['preset']} | {r['params']:,} | {r['precision']} | "
        f"{r['threads']} | {r['batch']} | {r['images_per_s']:.1f} | {r['step_ms']:.1f} |"
        for r in rows
    ]
    (RESULTS / "train_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
