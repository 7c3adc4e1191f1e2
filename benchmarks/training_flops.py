"""What each compare preset's FLOPs budget buys each family: training FLOPs per image, per step and
the images seen; with --rounds, seconds per step here, in interleaved rounds, and the minutes.

    python benchmarks/training_flops.py [--presets demo,hour,claims,smoke] [--rounds 0]

Training FLOPs per image are trigen.train.flops's count (one image's loss forward and backward,
labels included) of each family's comparison recipe at the preset's resolution; a family trains
until the first step whose FLOPs reach the preset's ``flops_per_family``. Writes
benchmarks/results/training_flops[_<tag>].{json,md}.
"""

from __future__ import annotations

import argparse
import math

import torch

from _common import add_run_options, interleaved, markdown_table, median, start_run, write
from trigen.build import build_family
from trigen.compare.training import train_config
from trigen.config import FamilyName
from trigen.data.loader import BatchLoader
from trigen.experiment.settings import PRESETS
from trigen.runner import data_spec_for
from trigen.train.flops import training_flops_per_image


def family_steps(preset: str, device: torch.device) -> dict[str, dict]:
    """Per family of ``preset`` (MaskGIT included): its config, FLOPs and one training step."""
    s = PRESETS[preset]
    names = dict.fromkeys((*s.families, FamilyName.MASKGIT))
    found = {}
    for name in names:
        cfg = train_config(name, s)
        data, spec = data_spec_for(cfg, print)
        torch.manual_seed(cfg.seed)
        family = build_family(cfg, spec, device)
        loader = BatchLoader(data, cfg.batch_size, seed=cfg.seed)
        per_image = training_flops_per_image(family, loader, device)
        batch = next(loader).to(device)
        optimizer = torch.optim.AdamW(family.net.parameters(), lr=cfg.lr)
        generator = torch.Generator(device).manual_seed(cfg.seed)

        def step(family=family, batch=batch, optimizer=optimizer, generator=generator) -> None:
            family.loss(batch, generator).mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        found[name.value] = {"cfg": cfg, "per_image": per_image, "step": step}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="demo,hour,claims,smoke")
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds (0: FLOPs only)")
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    rows, record = [], {"environment": env, "presets": {}}
    for preset in args.presets.split(","):
        budget = PRESETS[preset].flops_per_family
        found = family_steps(preset, args.device)
        seconds = {}
        if args.rounds:
            steps = {name: f["step"] for name, f in found.items()}
            seconds = interleaved(steps, steps=args.rounds, warmup=1, device=args.device)
        record["presets"][preset] = {"flops_per_family": budget, "families": {}}
        for name, f in found.items():
            cfg, per_image = f["cfg"], f["per_image"]
            step_flops = cfg.batch_size * per_image
            steps = math.ceil(budget / step_flops) if budget else None
            entry = {
                "resolution": cfg.resolution,
                "batch_size": cfg.batch_size,
                "flops_per_image": per_image,
                "flops_per_step": step_flops,
                "steps": steps,
                "images": steps * cfg.batch_size if steps else None,
            }
            if name in seconds:
                entry["seconds_per_step"] = median(seconds[name])
                entry["gflops_per_second"] = step_flops / entry["seconds_per_step"] / 1e9
                entry["minutes"] = steps * entry["seconds_per_step"] / 60 if steps else None
            record["presets"][preset]["families"][name] = entry
            rows.append(
                [
                    preset,
                    name,
                    cfg.resolution,
                    cfg.batch_size,
                    f"{per_image / 1e6:.1f}",
                    f"{budget:.3g}" if budget else "—",
                    entry["images"] or "—",
                    f"{entry['gflops_per_second']:.1f}" if "gflops_per_second" in entry else "—",
                    f"{entry['minutes']:.2f}" if entry.get("minutes") else "—",
                ]
            )
    header = [
        "preset",
        "family",
        "px",
        "batch",
        "training MFLOP / image",
        "FLOPs per family",
        "images bought",
        "GFLOP/s here (steps only)",
        "minutes here",
    ]
    write(
        f"training_flops{'_' + args.tag if args.tag else ''}",
        record,
        markdown_table(header, rows),
        args.out,
    )


if __name__ == "__main__":
    main()
