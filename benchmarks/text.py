"""Text adherence per family, mechanism and text encoder: MNIST captions and OpenMoji (issue 26).

    python benchmarks/text.py --dataset mnist|openmoji [--variants unet,dit,dit-tokens,...]
        [--encoders wordllama,learned | --models unet/wordllama,…] [--images N | variant=N,…]
        [--probe MINUTES] [--n 256] [--steps 50] [--cfg 1] [--reuse] [--threads N] [--tag T]

Each variant trains once per text encoder with a caption per image as its only condition (MNIST:
the digit, its thickness and slant in words, :mod:`trigen.data.captions`, with held-out
combinations never seen in training; OpenMoji: the glyph's own annotation and tags at 32 px),
dropped at 10 % (``--with-class`` adds the class label: then the model leans on the label and
ignores the caption's digit when asked with the label null), on the same image budget, with its
family's ``trigen compare`` recipe (``benchmarks/conditions.py``). ``--probe`` measures instead
what 10 minutes of training buy per variant on this host, for the issue's wall-clock protocol as
an image count. Then the captions of the first ``--n`` test images (and ``--n`` held-out ones on
MNIST) are requested (the class label null) and the samples scored as in ``trigen compare
--conditions text`` (:mod:`trigen.measure.text_adherence`): R-precision among 100 captions by the
in-domain text matcher, its cosine, and on MNIST class accuracy and thickness/slant bin accuracy,
beside the real test images (the ceiling) and the requests rolled by one (chance), with 95 %
intervals. Encoders: ``wordllama`` (frozen pretrained token embeddings + a trained projection)
and ``learned`` (from scratch, its own tokenizer over the training captions).

Variants: unet (cross-attention + pooled text in the time embedding), dit (cross-attention,
PixArt), dit-tokens (every condition a token in self-attention, the uniform mechanism), dit-joint
(MM-DiT: joint attention, the caption with its own weights, plus the pooled caption in adaLN),
dit-pooled (pooled text in adaLN only), ar and maskgit (caption prefix, LlamaGen), pixelcnn
(pooled text as a bias).

Writes benchmarks/results/text_<dataset>[_<tag>].{json,md}; runs under benchmarks/results/runs/.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import torch

import _adherence as rates
from _adherence import add_budget_options, family_recipe, images_of, variant_record
from _common import add_run_options, markdown_table, start_run, write
from trigen import api
from trigen.compare.settings import CompareSettings
from trigen.compare.text import TEXT, CaptionedTest, captioned_test
from trigen.config import TrainConfig
from trigen.data.datasets import load_dataset
from trigen.eval.domain import DomainClassifier
from trigen.families.base import SampleSpec
from trigen.measure.adherence import condition_adherence

VARIANTS: dict[str, dict] = {
    "unet": dict(family="unet"),
    "dit": dict(family="dit", model_overrides={"text_injection": "cross_attn"}),
    "dit-tokens": dict(
        family="dit", model_overrides={"conditioning": "in_context", "text_injection": "tokens"}
    ),
    "dit-joint": dict(family="dit", model_overrides={"text_injection": "joint"}),
    "dit-pooled": dict(family="dit", model_overrides={"text_injection": "pooled"}),
    "ar": dict(family="ar"),
    "maskgit": dict(family="maskgit"),
    "pixelcnn": dict(family="pixelcnn"),
}
TOKEN_FAMILIES = frozenset({"ar", "maskgit", "pixelcnn"})
RESOLUTION = {"mnist": 28, "openmoji": 32}
SCORES = (
    "r_precision",
    "r_precision_held_out",
    "class_accuracy",
    "class_accuracy_held_out",
    "bin_accuracy",
    "bin_accuracy_held_out",
    "cosine",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=tuple(RESOLUTION), default="mnist")
    parser.add_argument("--variants", default="unet,dit")
    parser.add_argument("--encoders", default="wordllama,learned")
    parser.add_argument(
        "--models", default="", help="variant/encoder,…: these models instead of every variant "
        "with every encoder (e.g. unet/wordllama,unet/learned,dit/wordllama)",
    )  # fmt: skip
    add_budget_options(parser)  # --n: requests, and as many held-out ones on MNIST
    defaults = CompareSettings()
    parser.add_argument(
        "--cfg", type=float, default=1.0, help="guidance scale over the caption at sampling"
    )
    parser.add_argument(
        "--with-class", action="store_true", help="train with the class label beside the "
        "caption (asked with it null); by default the caption is the only condition",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true", help="measure a model whose run directory already "
        "trained the same config to its image budget again, without training it",
    )  # fmt: skip
    parser.add_argument("--matcher-images", type=int, default=defaults.text_match_images)
    parser.add_argument("--domain-images", type=int, default=defaults.domain_images)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    if args.probe:
        for name in args.variants.split(","):
            probe(name, args.encoders.split(",")[0], args)
        return
    settings = vars(args) | {"out": str(args.out), "device": str(args.device)}
    settings["cache"] = str(args.cache)
    record: dict = {"environment": env, "settings": settings, "variants": {}}
    text = judges(args)
    record["text_matcher"] = text.summary()
    rows = []
    header = ["variant/encoder", "images", "min", "score", "n", "samples", "real", "chance"]
    for name, encoder in models(args):
        key = f"{name}/{encoder}"
        record["variants"][key] = result = run_variant(name, encoder, text, args)
        rows += table_rows(key, result)
        # after each model: a long run stopped part-way keeps what it measured
        table = markdown_table(header, rows)
        write(f"text_{args.dataset}" + (f"_{args.tag}" if args.tag else ""), record, table,
              args.out)  # fmt: skip


def models(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(variant, encoder) pairs: ``--models``, or every variant with every encoder."""
    if not args.models:
        return [(v, e) for v in args.variants.split(",") for e in args.encoders.split(",")]
    pairs = [tuple(m.split("/")) for m in args.models.split(",")]
    bad = [m for m in pairs if len(m) != 2 or m[0] not in VARIANTS]
    if bad:
        raise SystemExit(f"--models takes variant/encoder pairs of {', '.join(VARIANTS)}: {bad}")
    return pairs


def train_config(name: str, encoder: str, args: argparse.Namespace, **budget) -> TrainConfig:
    return TrainConfig(
        **family_recipe(VARIANTS[name]),
        dataset=args.dataset,
        resolution=RESOLUTION[args.dataset],
        conditional=args.with_class,  # text-to-image: the caption alone names the digit
        conditions=(TEXT,),
        text_encoder=encoder,
        seed=args.seed,
        checkpoint_every=10**9,
        **budget,
    )


def probe(name: str, encoder: str, args: argparse.Namespace) -> None:
    cfg = train_config(name, encoder, args, max_minutes=args.probe)
    rates.probe(name, cfg, args.out / "runs" / f"probe-text-{name}", args)


def judges(args: argparse.Namespace) -> CaptionedTest:
    """The captioned test split with its text matcher and (MNIST) the domain classifier."""
    s = CompareSettings(
        dataset=args.dataset,
        resolution=RESOLUTION[args.dataset],
        seed=args.seed,
        conditions=(TEXT,),
        text_match_images=args.matcher_images,
    )
    domain = None
    if args.dataset == "mnist":
        train = load_dataset("mnist", "train", resolution=s.resolution)
        test = load_dataset("mnist", "test", resolution=s.resolution)
        domain = DomainClassifier.train_or_load(
            train, test, args.cache, max_images=args.domain_images, device=args.device
        )
    return captioned_test(s, args.cache, domain, args.device, lambda line: print(line))


def run_variant(name: str, encoder: str, text: CaptionedTest, args: argparse.Namespace) -> dict:
    out = args.out / "runs" / f"text-{args.dataset}-{name}-{encoder}"
    cfg = train_config(name, encoder, args, max_images=images_of(name, args))
    reused = finished_run(out, cfg) if args.reuse else None
    if reused is None:
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        images_seen = api.train(cfg, out, device=args.device).images_seen
        minutes = (time.perf_counter() - start) / 60
    else:
        images_seen, minutes = reused
        print(f"{name}/{encoder}: reusing {out} ({images_seen:,} images, {minutes:.1f} min)")
    loaded = api.load(out, device=args.device)
    specs = loaded.data.conditions
    n = args.n if name not in TOKEN_FAMILIES else min(args.n, 128)  # one token a step
    start = time.perf_counter()
    with torch.no_grad():
        scores = condition_adherence(
            loaded.family,
            specs,
            text.tokenized(specs),
            SampleSpec(steps=args.steps, cfg=args.cfg),
            n=n,
            seed=args.seed,
            class_conditional=loaded.data.num_classes > 0,
            text=text.reference,
        )
    record = variant_record(cfg, images_seen, minutes, start, loaded.family.net, scores)
    return record | {"cfg": args.cfg, "reused": reused is not None}


def finished_run(out: Path, cfg: TrainConfig) -> tuple[int, float] | None:
    """(images seen, training minutes) of a run in ``out`` that trained ``cfg`` to its image
    budget (its config and a checkpoint at the budget; the minutes from its metrics log, the
    last line's, a little short of the whole), else None: the run is trained afresh."""
    try:
        config = json.loads((out / "config.json").read_text())
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except (OSError, ValueError):
        return None
    if config.get("config") != json.loads(json.dumps(cfg.to_dict())):
        return None
    logged = [json.loads(line) for line in lines if line.strip()]
    loaded = api.load(out)
    if loaded.images_seen < cfg.max_images:
        return None
    minutes = logged[-1]["elapsed_s"] / 60 if logged else math.nan  # (a run too short to log)
    return loaded.images_seen, minutes


def table_rows(key: str, result: dict) -> list[list[str]]:
    rows = []
    scores = result["adherence"][TEXT]
    head = [key, f"{result['images_seen']:,}", f"{result['train_minutes']:.1f}"]
    for score in SCORES:
        if score not in scores["samples"]:
            continue
        cells = [_cell(scores[which][score]) for which in ("samples", "real", "chance")]
        rows.append([*head, score, str(scores["samples"][score]["n"]), *cells])
    return rows


def _cell(summary: dict) -> str:
    key = "rate" if "rate" in summary else "mean"
    low, high = summary[f"{key}_interval"]
    return f"{summary[key]:.3f} [{low:.3f}, {high:.3f}]"


if __name__ == "__main__":
    main()
