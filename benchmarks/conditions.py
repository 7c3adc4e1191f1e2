"""Condition adherence per family and mechanism: MNIST attributes and skeleton maps (issue 25).

    python benchmarks/conditions.py [--variants unet,unet-concat,dit,dit-tokens,ar,maskgit,pixelcnn]
        [--images 40000] [--minutes M] [--n 256] [--steps 50] [--threads N] [--tag T]

Each variant trains once on MNIST 28 px with the class label, the Morpho-MNIST attribute vector
and the skeleton map (each dropped on its own and all together, at 10 %), on the same budget (an
image count by default; ``--minutes`` for the issue's wall-clock protocol), with its family's
``trigen compare`` recipe (lr, batch, RoPE) and the comparison's short-run warm-up, EMA and lr
cooldown. Then, for each
condition alone, the conditions of the first ``--n`` test images are requested and the samples
scored (:mod:`trigen.measure.adherence`): thickness and slant MAE and correlation, skeleton F1 at
1 px, with 95 % bootstrap intervals, beside the real test images (the protocol's ceiling) and the
requests rolled by one (chance). Variants:

- unet:        U-Net, vector → time embedding (AdaGN), map → hint encoder with zero convs;
- unet-concat: the same with the map concatenated to the input;
- dit:         DiT-T/4 adaLN-Zero, vector → adaLN, map → zero-initialised patch embedding;
- dit-tokens:  DiT-T/4 in-context: t, y, the vector and the map's patches are all tokens
               (the "uniform" mechanism);
- ar, maskgit: prefix tokens (vector token, map patch tokens); pixelcnn: map input, vector bias.

Writes benchmarks/results/conditions[_<tag>].{json,md}; runs under benchmarks/results/runs/.
"""

from __future__ import annotations

import argparse
import shutil
import time

from _common import add_run_options, markdown_table, start_run, write
from trigen import api
from trigen.compare.settings import FAMILY_TRAINING, CompareSettings
from trigen.conditions_data import attach_conditions, default_cache_dir
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import load_dataset
from trigen.families.base import SampleSpec
from trigen.measure.adherence import condition_adherence

VARIANTS: dict[str, dict] = {
    "unet": dict(family="unet"),
    "unet-concat": dict(family="unet", model_overrides={"map_injection": "concat"}),
    "dit": dict(family="dit"),
    "dit-tokens": dict(
        family="dit",
        model_overrides={
            "conditioning": "in_context",
            "vector_injection": "tokens",
            "map_injection": "tokens",
        },
    ),
    "ar": dict(family="ar"),
    "maskgit": dict(family="maskgit"),
    "pixelcnn": dict(family="pixelcnn"),
}
TOKEN_FAMILIES = frozenset({"ar", "maskgit", "pixelcnn"})
CONDITIONS = ("attributes", "skeleton")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="unet,unet-concat,dit,dit-tokens")
    parser.add_argument(
        "--images",
        type=images_per_variant,
        default=images_per_variant("40000"),
        help="training images per model: N, or variant=N,… (what --probe measured 10 minutes buy)",
    )
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget instead")
    parser.add_argument("--n", type=int, default=256, help="requests per condition")
    parser.add_argument("--steps", type=int, default=50, help="diffusion sampling steps (DDIM)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help="conditions each model trains with besides the class (attributes, skeleton or both)",
    )
    parser.add_argument(
        "--probe",
        type=float,
        default=None,
        metavar="MINUTES",
        help="only measure each variant's training images per second over MINUTES and print "
        "the image count that --minutes 10 buys at that rate (no evaluation)",
    )
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    settings = vars(args) | {"out": str(args.out), "device": str(args.device)}
    record: dict = {"environment": env, "settings": settings}
    record["variants"] = {}
    if args.probe:
        for name in args.variants.split(","):
            probe(name, args)
        return
    rows = []
    for name in args.variants.split(","):
        record["variants"][name] = result = run_variant(name, args)
        rows += table_rows(name, result)
    header = ["variant", "images", "min", "condition", "metric", "samples", "real", "chance"]
    table = markdown_table(header, rows)
    write("conditions" + (f"_{args.tag}" if args.tag else ""), record, table, args.out)


def images_per_variant(text: str) -> dict[str, int]:
    """``--images``: one count for every variant (key "") or ``variant=count`` pairs."""
    if "=" not in text:
        return {"": int(float(text))}
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {name.strip(): int(float(count)) for name, count in pairs}


def probe(name: str, args: argparse.Namespace) -> None:
    """Train ``name`` for ``--probe`` minutes and print its rate and the images of 10 minutes."""
    out = args.out / "runs" / f"probe-{name}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = TrainConfig(
        **recipe(name),
        conditions=tuple(args.conditions.split(",")),
        seed=args.seed,
        max_minutes=args.probe,
    )
    trained = api.train(cfg, out, device=args.device)
    rate = trained.images_seen / (args.probe * 60)
    print(
        f"{name}: {trained.images_seen} images in {args.probe} min, {rate:.1f} img/s, "
        f"10 min ≈ {round(rate * 600, -3):.0f} images",
        flush=True,
    )
    shutil.rmtree(out, ignore_errors=True)


def run_variant(name: str, args: argparse.Namespace) -> dict:
    out = args.out / "runs" / (f"conditions-{name}" + (f"-{args.tag}" if args.tag else ""))
    shutil.rmtree(out, ignore_errors=True)
    images = args.images.get(name, args.images.get(""))
    if not args.minutes and images is None:
        raise SystemExit(f"--images names no budget for variant {name}")
    budget = {"max_minutes": args.minutes} if args.minutes else {"max_images": images}
    conditions = tuple(args.conditions.split(","))
    cfg = TrainConfig(
        **recipe(name), conditions=conditions, seed=args.seed, checkpoint_every=10_000, **budget
    )
    start = time.perf_counter()
    trained = api.train(cfg, out, device=args.device)
    minutes = (time.perf_counter() - start) / 60
    loaded = api.load(out, device=args.device)
    test = load_dataset("mnist", "test")
    test, _ = attach_conditions(
        test, conditions, reference=loaded.data.conditions, cache_dir=default_cache_dir()
    )
    spec = SampleSpec(steps=args.steps)
    n = args.n if name not in TOKEN_FAMILIES else min(args.n, 128)  # one token a step
    start = time.perf_counter()
    scores = condition_adherence(loaded.family, loaded.data.conditions, test, spec, n=n)
    return {
        "config": cfg.to_dict(),
        "images_seen": trained.images_seen,
        "train_minutes": round(minutes, 2),
        "eval_minutes": round((time.perf_counter() - start) / 60, 2),
        "parameters": sum(p.numel() for p in loaded.family.net.parameters()),
        "adherence": scores,
    }


def recipe(name: str) -> dict:
    """The variant ``name`` on its family's comparison recipe (:func:`family_recipe`)."""
    return family_recipe(VARIANTS[name])


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


def table_rows(name: str, result: dict) -> list[list[str]]:
    rows = []
    head = [name, f"{result['images_seen']:,}", f"{result['train_minutes']:.1f}"]
    for cond, scores in result["adherence"].items():
        if scores["kind"] == "map":
            cells = [_f1(scores[k]) for k in ("samples", "real", "chance")]
            rows.append([*head, f"{cond} (n={scores['n']})", "F1 @1px", *cells])
            continue
        for field in ("thickness", "slant"):
            std = scores["std"].get(field, float("nan"))
            for metric, key in (("MAE", "mae"), ("r", "corr")):
                cells = [_value(scores[k][field], key) for k in ("samples", "real", "chance")]
                label = f"{field} {metric}" + (f" (std {std:.3g})" if metric == "MAE" else "")
                rows.append([*head, f"{cond} (n={scores['n']})", label, *cells])
    return rows


def _value(scores: dict, key: str) -> str:
    low, high = scores[f"{key}_interval"]
    return f"{scores[key]:.3f} [{low:.3f}, {high:.3f}]"


def _f1(scores: dict) -> str:
    low, high = scores["f1_interval"]
    return f"{scores['f1']:.3f} [{low:.3f}, {high:.3f}]"


if __name__ == "__main__":
    main()
