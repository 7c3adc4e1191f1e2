"""How a comparison trains a family: its recipe under the shared budget (:func:`train_config`),
the training itself or a reused checkpoint, and the summary every record reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trigen import api
from trigen.compare.pieces import clear_run_dir
from trigen.compare.settings import FAMILY_TRAINING, CompareSettings
from trigen.config import FamilyName, TrainConfig

Log = Callable[[str], None]

TRAIN_BUDGETS = ("max_steps", "max_images", "max_minutes", "max_flops")


def train_config(name: FamilyName, s: CompareSettings, **changes: Any) -> TrainConfig:
    """The training run of family ``name`` under the comparison's shared budget; ``changes``
    that set a budget (a claim's own minutes, images or FLOPs) replace that budget whole."""
    values: dict[str, Any] = {
        "family": name,
        "model": s.models.get(name.value, ""),
        "dataset": s.dataset,
        "data_root": s.data_root,
        "resolution": s.resolution,
        "precision": s.precision,
        "seed": s.seed,
        "max_minutes": s.minutes_per_family,
        "max_images": s.images_per_family,
        "max_flops": s.flops_per_family,
        "ema_halflife_images": s.ema_halflife_images,
        "warmup_images": s.warmup_images,
        "lr_cooldown": s.lr_cooldown,
        "text_encoder": s.text_encoder,  # read only by a training that takes captions
        "log_every": 10,
        "checkpoint_every": 10**9,
        "batch_size": 64,
        **FAMILY_TRAINING.get(name, {}),
    }
    if s.batch_size is not None:  # the user's choice overrides every recipe
        values["batch_size"] = s.batch_size
    if any(changes.get(budget) is not None for budget in TRAIN_BUDGETS):
        values.update(dict.fromkeys(TRAIN_BUDGETS))
    values.update(changes)
    return TrainConfig.from_dict(values)


def loss_curve(run_dir: Path) -> list[list[float]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [[r["images"], r["loss"]] for r in records]


def train_or_reuse(
    cfg: TrainConfig,
    run_dir: Path,
    reuse: Path | None,
    device: torch.device,
    log: Log,
    on_fraction: Callable[[float], None] | None = None,
    clear: bool = False,
) -> tuple[api.Loaded, dict[str, Any]]:
    """``cfg`` trained into ``run_dir`` (or the checkpoint ``reuse``) and its training summary;
    ``clear``: first remove what an interrupted earlier attempt left in ``run_dir``."""
    if reuse is None:
        if clear:
            clear_run_dir(run_dir)
        result = api.train(
            cfg,
            run_dir,
            device=device,
            on_log=lambda r: None,
            on_warning=log,
            on_progress=None if on_fraction is None else lambda b: on_fraction(b.fraction),
        )
        summary = {
            "images_seen": result.images_seen,
            "seconds": result.seconds,
            "images_per_second": result.images_per_second,
            "flops": result.flops,  # training FLOPs: images seen × flops_per_image
            "flops_per_image": result.flops_per_image,
            "final_loss": result.last_loss,
        }
        source = run_dir
    else:
        source, summary = reuse, {}
    loaded = api.load(source, device=device)
    summary["batch_size"] = loaded.config.batch_size
    summary["lr"] = loaded.config.lr
    summary["lr_cooldown"] = loaded.config.lr_cooldown
    summary.setdefault("images_seen", loaded.images_seen)
    curve = loss_curve(
        source if source.is_dir() and (source / "metrics.jsonl").exists() else source.parent.parent
    )
    summary["loss_curve"] = curve
    if "final_loss" not in summary and curve:
        summary["final_loss"] = curve[-1][1]
    return loaded, summary


def budget_text(s: CompareSettings, reuse: dict[str, Path]) -> str:
    """The shared budget, and which families came from checkpoints trained elsewhere (their
    own budgets: the images each saw are in its row)."""
    text = s.budget_text
    cooldowns = {name.value: train_config(name, s).lr_cooldown for name in s.families}
    own = [  # families whose recipe keeps another lr schedule than the shared one
        f"{name}: {'constant lr' if c == 0 else f'cooldown {c:.0%}'}"
        for name, c in cooldowns.items()
        if c != s.lr_cooldown
    ]
    if own:
        text += f" ({'; '.join(own)})"
    if not reuse:
        return text
    reused = ", ".join(f"{name} from {path}" for name, path in sorted(reuse.items()))
    return f"{text}; reused (trained elsewhere, own budget): {reused}"
