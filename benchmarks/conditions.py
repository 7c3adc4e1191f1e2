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

import _adherence as rates
from _adherence import add_budget_options, family_recipe, images_of, variant_record
from _common import add_run_options, markdown_table, start_run, write
from trigen import api
from trigen.conditions_data import attach_conditions, default_cache_dir
from trigen.config import TrainConfig
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
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget instead")
    add_budget_options(parser)
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help="conditions each model trains with besides the class (attributes, skeleton or both)",
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
    header = ["variant", "images", "min", "condition", "metric", "samples", "real", "chance"]
    for name in args.variants.split(","):  # the files after each variant: a long run shows progress
        record["variants"][name] = result = run_variant(name, args)
        rows += table_rows(name, result)
        table = markdown_table(header, rows)
        write("conditions" + (f"_{args.tag}" if args.tag else ""), record, table, args.out)


def probe(name: str, args: argparse.Namespace) -> None:
    cfg = TrainConfig(
        **recipe(name),
        conditions=tuple(args.conditions.split(",")),
        seed=args.seed,
        max_minutes=args.probe,
    )
    rates.probe(name, cfg, args.out / "runs" / f"probe-{name}", args)


def run_variant(name: str, args: argparse.Namespace) -> dict:
    out = args.out / "runs" / (f"conditions-{name}" + (f"-{args.tag}" if args.tag else ""))
    shutil.rmtree(out, ignore_errors=True)
    budget = (
        {"max_minutes": args.minutes} if args.minutes else {"max_images": images_of(name, args)}
    )
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
    return variant_record(cfg, trained.images_seen, minutes, start, loaded.family.net, scores)


def recipe(name: str) -> dict:
    """The variant ``name`` on its family's comparison recipe (:func:`family_recipe`)."""
    return family_recipe(VARIANTS[name])


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
