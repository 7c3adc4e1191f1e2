"""The captions of a comparison with text: the captioned test split, tokenized for each run, and
the judges of samples asked for its captions (the text matcher, the domain classifier, the MNIST
bins and held-out flags)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trigen.compare.settings import CompareSettings
from trigen.conditions import ConditionSpec
from trigen.data.captioned import CaptionedDataset
from trigen.data.datasets import ImageDataset
from trigen.eval.domain import DomainClassifier
from trigen.eval.text_match import TextMatcher
from trigen.measure.intervals import wilson_interval
from trigen.measure.text_adherence import TextReference

TEXT = "text"  # the caption condition's name (trigen.config.CONDITION_SOURCES)


@dataclass(frozen=True)
class CaptionedTest:
    """The comparison's captioned test split and what judges samples asked for its captions."""

    test: CaptionedDataset
    reference: TextReference

    def tokenized(self, specs: Sequence[ConditionSpec]) -> ImageDataset:
        """The test images with their captions as the ids of the run whose ``specs`` these are
        (its own tokenizer and context)."""
        from trigen.text import tokenizer_for

        spec = next(spec for spec in specs if spec.name == TEXT)
        ids, _ = tokenizer_for(spec).encode(self.test.captions, spec.size)
        dataset = self.test.dataset
        return dataclasses.replace(dataset, conds={**dataset.conds, TEXT: ids})

    def summary(self) -> dict[str, Any]:
        """The matcher's own test R-precision with its 95 % Wilson interval, and its training."""
        info = self.reference.matcher.info
        rate, n = info.get("test_r_precision"), int(info.get("test_requests") or 0)
        interval = list(wilson_interval(round(rate * n), n)) if rate is not None and n else None
        return {
            "test_r_precision": rate,
            "test_r_precision_interval": interval,
            "test_requests": n,
            "images_seen": info.get("images_seen"),
            "train_seconds": info.get("train_seconds"),
            "vocabulary": len(info.get("vocabulary", ())),
            "network_id": self.reference.matcher.network_id,
        }


def captioned_test(
    s: CompareSettings,
    cache_dir: Path | None,
    domain: DomainClassifier | None,
    device: torch.device | str,
    log: Callable[[str], None],
) -> CaptionedTest:
    """The captioned test split of ``s``'s dataset, worded as the runs' training captions were
    (the comparison's seed), and a text matcher trained on the captioned training split (cached
    in ``cache_dir`` after the first run)."""
    from trigen.conditions_data import default_cache_dir
    from trigen.data.captioned import load_captioned

    options = {
        "cache_dir": default_cache_dir(),  # where the runs' training found the attributes
        "seed": s.seed,
        "root": Path(s.data_root) if s.data_root else None,
        "resolution": s.resolution,
    }
    train = load_captioned(s.dataset, "train", **options)
    test = load_captioned(s.dataset, "test", **options)
    log(f"text matcher on {len(train)} captioned training images (cached after the first run)")
    matcher = TextMatcher.train_or_load(
        train.dataset, train.captions, test.dataset, test.captions, cache_dir,
        max_images=s.text_match_images, seed=s.seed, device=device,
    )  # fmt: skip
    rate = matcher.info.get("test_r_precision")
    if rate is not None:
        log(f"text matcher: R-precision {rate:.3f} on {matcher.info['test_requests']} test images")
    # class accuracy where the caption names the class (MNIST's digit); an emoji's group is not
    judge = domain if test.digits is not None else None
    return CaptionedTest(test, TextReference(test.captions, matcher, judge, test.digits))
