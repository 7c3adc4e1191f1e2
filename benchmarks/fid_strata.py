"""FID∞ of class-balanced sets on real MNIST domain features: resampled freely or within classes.

    python benchmarks/fid_strata.py [--n 96] [--repeats 25] [--resolution 16] [--cache runs/cache]

Every claim samples its models for balanced class labels (0, 1, 2, … in turn), a stratified
sample; this measures what that does to the claims' FID∞ instrument (`trigen.eval.fid_bootstrap`,
16 principal axes, the domain classifier the comparisons train, 1,000 test images as the
reference). Real training images stand in for a perfect model's samples, drawn either at random
or balanced over the classes, ``--repeats`` times: for each the plug-in FID, FID∞ with the
bootstrap resampling rows freely, and FID∞ resampling within classes (``draws(..., strata)``);
the mean ± sd over repeats, beside a large-sample value (8,000 real training images against the
other 9,000 test images). Writes benchmarks/results/fid_strata[_<tag>].{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import add_run_options, markdown_table, start_run, write
from trigen.data.datasets import load_dataset
from trigen.eval.domain import DomainClassifier
from trigen.eval.fid_bootstrap import FidBootstrap, corrected
from trigen.measure.evaluators import BASIS_IMAGES

REFERENCE = 1000  # test images, as the claims preset
POOL = 20_000  # training images whose features are drawn from
DOMAIN_IMAGES = 120_000  # the comparisons' domain classifier budget (cached under that name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=96, help="rows per set (the claims' NFE points)")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    add_run_options(parser)
    args = parser.parse_args()
    env = start_run(args)
    train = load_dataset("mnist", "train", resolution=args.resolution)
    test = load_dataset("mnist", "test", resolution=args.resolution)
    clf = DomainClassifier.train_or_load(train, test, args.cache, max_images=DOMAIN_IMAGES)
    feats, labels = clf.features(train.images[:POOL]), train.labels[:POOL].numpy()
    ref_feats = clf.features(test.images)
    basis, pool, classes = feats[:BASIS_IMAGES], feats[BASIS_IMAGES:], labels[BASIS_IMAGES:]
    # the plug-in of 8,000 training images against the other test images, in the same axes
    large = FidBootstrap(ref_feats[REFERENCE:], basis_from=basis, resamples=0).draws(pool[:8000])
    rng = np.random.default_rng(0)
    rows, record = [], {}
    for design in ("random", "balanced"):
        values: dict[str, list[float]] = {"plug_in": [], "free": [], "strata": []}
        for rep in range(args.repeats):
            idx = _draw(rng, design, classes, args.n)
            instrument = FidBootstrap(
                ref_feats[:REFERENCE], basis_from=basis, resamples=200, seed=rep
            )
            free = instrument.draws(pool[idx])
            values["plug_in"].append(free.value)
            values["free"].append(corrected(free)[0])
            values["strata"].append(corrected(instrument.draws(pool[idx], classes[idx]))[0])
        record[design] = values
        rows.append(
            [design, args.n, args.repeats]
            + [f"{np.mean(v):.2f} ± {np.std(v):.2f}" for v in values.values()]
        )
    header = ["real images drawn", "n", "repeats", "plug-in FID", "FID∞ free", "FID∞ in classes"]
    note = (
        f"Large-sample plug-in (8,000 training vs {len(test) - REFERENCE:,} test images, "
        f"16 axes): {large.value:.2f}."
    )
    table = [*markdown_table(header, rows), "", note]
    write(
        "fid_strata" + (f"_{args.tag}" if args.tag else ""),
        {"environment": env, "settings": {"n": args.n, "repeats": args.repeats,
         "resolution": args.resolution}, "large_sample_plug_in": large.value, "sets": record},
        table,
        args.out,
    )  # fmt: skip


def _draw(rng: np.random.Generator, design: str, classes: np.ndarray, n: int) -> np.ndarray:
    """Row indices of one set: ``n`` at random, or the classes in turn (0, 1, 2, …)."""
    if design == "random":
        return rng.choice(classes.size, n, replace=False)
    wanted = np.arange(n) % (classes.max() + 1)
    rows = np.empty(n, dtype=np.int64)
    for c in np.unique(wanted):
        slots = np.flatnonzero(wanted == c)
        rows[slots] = rng.choice(np.flatnonzero(classes == c), slots.size, replace=False)
    return rows


if __name__ == "__main__":
    main()
