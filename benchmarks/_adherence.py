"""What the adherence benchmarks (conditions.py, text.py) share: each variant on its family's
``trigen compare`` recipe, image budgets per variant, and the probe that turns the issues'
"10 wall-minutes per model" into an image count measured on this host."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from trigen import api
from trigen.compare.settings import FAMILY_TRAINING, CompareSettings
from trigen.config import FamilyName, TrainConfig

PROTOCOL_MINUTES = 10  # the issues' wall-clock budget per model, as images by --probe


def family_recipe(variant: dict) -> dict:
    """``variant`` (family, model_overrides) on ``trigen compare``'s recipe for its family (its
    lr, batch, positions) and the comparison's short-run settings (warm-up, EMA half-life, lr
    cooldown)."""
    variant = dict(variant)
    family = FAMILY_TRAINING.get(FamilyName(variant["family"]), {})
    short = CompareSettings()
    merged = {
        "warmup_images": short.warmup_images,
        "ema_halflife_images": short.ema_halflife_images,
        "lr_cooldown": short.lr_cooldown,
        **family,
        **variant,
    }
    merged["model_overrides"] = {
        **family.get("model_overrides", {}),
        **variant.get("model_overrides", {}),
    }
    return merged


def images_per_variant(text: str) -> dict[str, int]:
    """``--images``: one count for every variant (key "") or ``variant=count`` pairs."""
    if "=" not in text:
        return {"": int(float(text))}
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {name.strip(): int(float(count)) for name, count in pairs}


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    """``--images``, ``--probe``, ``--n``, ``--steps`` and ``--seed``."""
    parser.add_argument(
        "--images",
        type=images_per_variant,
        default=images_per_variant("40000"),
        help="training images per model: N, or variant=N,… (what --probe measured)",
    )
    parser.add_argument(
        "--probe",
        type=float,
        default=None,
        metavar="MINUTES",
        help="only measure each variant's training images per second over MINUTES and print "
        f"the image count that {PROTOCOL_MINUTES} minutes buy at that rate (no evaluation)",
    )
    parser.add_argument("--n", type=int, default=256, help="requests per condition")
    parser.add_argument("--steps", type=int, default=50, help="diffusion sampling steps (DDIM)")
    parser.add_argument("--seed", type=int, default=0)


def images_of(name: str, args: argparse.Namespace) -> int:
    """The image budget ``--images`` gives variant ``name``."""
    images = args.images.get(name, args.images.get(""))
    if images is None:
        raise SystemExit(f"--images names no budget for variant {name}")
    return images


def probe(name: str, cfg: TrainConfig, out: Path, args: argparse.Namespace) -> None:
    """Train ``cfg`` (its budget ``--probe`` minutes) in ``out`` and print variant ``name``'s
    rate and the images of the protocol's minutes (the line ``--images`` reads back)."""
    shutil.rmtree(out, ignore_errors=True)
    trained = api.train(cfg, out, device=args.device)
    rate = trained.images_seen / (args.probe * 60)
    images = round(rate * PROTOCOL_MINUTES * 60, -3)
    print(
        f"{name}: {trained.images_seen} images in {args.probe} min, {rate:.1f} img/s, "
        f"{PROTOCOL_MINUTES} min ≈ {images:.0f} images",
        flush=True,
    )
    shutil.rmtree(out, ignore_errors=True)


def variant_record(
    cfg: TrainConfig, images_seen: int, train_minutes: float, eval_start: float,
    net: torch.nn.Module, scores: dict,
) -> dict:  # fmt: skip
    """One variant's results: its config, images seen, minutes of training and of evaluation
    (since ``eval_start``, a ``time.perf_counter()``), parameters and adherence ``scores``."""
    return {
        "config": cfg.to_dict(),
        "images_seen": images_seen,
        "train_minutes": round(train_minutes, 2),
        "eval_minutes": round((time.perf_counter() - eval_start) / 60, 2),
        "parameters": sum(p.numel() for p in net.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "adherence": scores,
    }
