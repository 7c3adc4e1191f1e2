"""Training seeds of a comparison: which seeds, where each seed's run lives, and each family's
record over its seeds (the per-seed values and their mean with a t interval over seeds).

``trigen compare --seeds N`` trains every family (and every training inside a claim) N times,
from the seeds base, base + 1, …, base + N − 1 (``--seed`` is the base). A family's record in
``results.json`` keeps each seed's full record under ``"seeds"`` and, under ``"across_seeds"``,
every headline number's per-seed values, mean and interval, so a reader can re-derive them;
with two or more seeds the record's own headline numbers are those means, their ``_low`` /
``_high`` the interval over seeds. One seed has no interval over seeds: its numbers keep the
intervals over samples of that one run, and its ``across_seeds`` says there is none.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trigen.errors import ConfigError
from trigen.measure.stats import LEVEL, MIN_SEEDS, seeds_interval

if TYPE_CHECKING:
    from trigen.compare.settings import CompareSettings

# headline numbers of a family's record averaged over seeds: (section, key)
HEADLINE: tuple[tuple[str, str], ...] = (
    ("quality", "fid"),
    ("quality", "kid_x1000"),
    ("quality", "precision"),
    ("quality", "recall"),
    ("quality", "domain_fid"),
    ("quality", "cond_accuracy"),
    ("quality", "confidence"),
    ("nll", "bits_per_dim"),
    ("train", "final_loss"),
    ("train", "images_seen"),
    ("train", "flops"),
    ("train", "images_per_second"),
    ("train", "seconds"),
    ("sampling", "latency_s_per_image"),
)
# within-run spreads that mean nothing beside a mean over seeds (its interval replaces them)
RUN_SPREADS = (("quality", "kid_std_x1000"),)


def training_seeds(base: int, count: int) -> tuple[int, ...]:
    """The ``count`` training seeds derived from ``base``: base, base + 1, …"""
    if count < 1:
        raise ConfigError(f"--seeds must be at least 1 (training seeds per family), got {count}")
    return tuple(range(base, base + count))


def check_reuse(s: CompareSettings, reuse: Mapping[str, object]) -> None:
    """A reused checkpoint is one training run: it cannot stand for several seeds."""
    if reuse and s.seeds > 1:
        raise ConfigError(
            f"--reuse gives one trained run per family; it cannot be combined with --seeds "
            f"{s.seeds} (train every seed, or compare one seed)"
        )


def run_name(family: str, seed: int, s: CompareSettings) -> str:
    """Where a family's run of ``seed`` lives under the output directory (and its sample grid's
    prefix): the family's name with one seed, ``family@seed`` with several."""
    return family if s.seeds == 1 else f"{family}@{seed}"


def describe(s: CompareSettings) -> str:
    """The report header's line on seeds."""
    seeds = training_seeds(s.seed, s.seeds)
    if len(seeds) == 1:
        return (
            f"1 training seed per family ({seeds[0]}, from --seed): no interval over seeds; "
            "intervals are over one run's samples"
        )
    listed = ", ".join(map(str, seeds))
    return (
        f"{len(seeds)} training seeds per family: {listed} (--seed {s.seed}, then + 1 each); "
        "headline numbers are the mean over seeds with a t 95 % interval over seeds, each "
        "seed's values beside them (results.json: families.<family>.seeds)"
    )


def family_record(records: Sequence[dict[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """A family's record over its training seeds (``records[i]`` measured on ``seeds[i]``): the
    first seed's record (its grid, design facts), each seed's record under ``"seeds"``, every
    headline number's mean and interval over seeds under ``"across_seeds"``; with two or more
    seeds the headline numbers themselves become the means with intervals over seeds."""
    if len(records) != len(seeds) or not records:
        raise ValueError(f"{len(records)} records for {len(seeds)} seeds")
    record = copy.deepcopy(dict(records[0]))
    record["seeds"] = [
        {"seed": s, **copy.deepcopy(dict(r))} for s, r in zip(seeds, records, strict=True)
    ]
    metrics = {}
    for section, key in HEADLINE:
        values = [_get(r, section, key) for r in records]
        if not values or any(not _is_number(v) for v in values):
            continue
        e = seeds_interval(f"{section}.{key}", [float(v) for v in values])
        interval = e.determined
        metrics[f"{section}.{key}"] = {
            "values": [float(v) for v in values],
            "mean": e.value,
            "low": e.low if interval else None,
            "high": e.high if interval else None,
        }
        if len(records) > 1:
            record[section][key] = e.value
            record[section][f"{key}_low"], record[section][f"{key}_high"] = e.low, e.high
    if len(records) > 1:
        for section, key in RUN_SPREADS:
            record.get(section, {}).pop(key, None)
    record["across_seeds"] = {
        "seeds": list(seeds),
        "method": (
            f"t {LEVEL * 100:g} % over {len(seeds)} seeds "
            "(mean ± t × sd / √n, n − 1 degrees of freedom)"
            if len(seeds) >= MIN_SEEDS
            else f"{len(seeds)} seed: no interval over seeds (needs ≥ {MIN_SEEDS})"
        ),
        "metrics": metrics,
    }
    return record


def _get(record: Mapping[str, Any], section: str, key: str) -> Any:
    part = record.get(section)
    return part.get(key) if isinstance(part, Mapping) else None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v
