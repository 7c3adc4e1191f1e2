"""How much of a training budget is spent, in the budget's own unit (steps, images, minutes,
training FLOPs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trigen.config import TrainConfig
from trigen.errors import ConfigError

SECONDS_PER_MINUTE = 60.0


class BudgetUnit(StrEnum):
    """The unit a training budget is set in (--steps, --images, --minutes, --flops)."""

    STEPS = "steps"
    IMAGES = "images"
    MINUTES = "minutes"
    FLOPS = "FLOPs"  # training FLOPs: images seen × one image's forward and backward


@dataclass(frozen=True)
class BudgetSpent:
    """``done`` of ``total`` in ``unit``: optimizer steps, images seen, wall-clock minutes or
    training FLOPs."""

    unit: BudgetUnit
    done: float
    total: float

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total > 0 else 1.0

    @property
    def exhausted(self) -> bool:
        """Whether training stops here: this budget is used up."""
        return self.done >= self.total


def budget_spent(
    cfg: TrainConfig,
    step: int,
    images_seen: int,
    seconds: float,
    flops_per_image: float = 0.0,
) -> BudgetSpent:
    """The budget of ``cfg`` nearest its end after ``step`` steps, ``images_seen`` images and
    ``seconds`` of this session; with several set, training stops at the first one spent.

    The FLOPs spent are ``images_seen × flops_per_image`` (:mod:`trigen.train.flops`), so they
    survive a resumption exactly; the minutes budget counts this session only (a resumed run
    gets ``max_minutes`` afresh), as :meth:`~trigen.train.loop.Trainer.run` does. ConfigError
    when ``cfg`` sets no budget."""
    candidates = []
    if cfg.max_steps is not None:
        candidates.append(BudgetSpent(BudgetUnit.STEPS, step, cfg.max_steps))
    if cfg.max_images is not None:
        candidates.append(BudgetSpent(BudgetUnit.IMAGES, images_seen, cfg.max_images))
    if cfg.max_minutes is not None:
        minutes = seconds / SECONDS_PER_MINUTE
        candidates.append(BudgetSpent(BudgetUnit.MINUTES, minutes, cfg.max_minutes))
    if cfg.max_flops is not None:
        flops = images_seen * flops_per_image
        candidates.append(BudgetSpent(BudgetUnit.FLOPS, flops, cfg.max_flops))
    if not candidates:
        raise ConfigError("set a training budget: --steps, --images, --minutes or --flops")
    return max(candidates, key=lambda b: b.fraction)  # ties: the first, steps before images


def check_flops_budget(cfg: TrainConfig, flops_per_image: float) -> None:
    """ConfigError when ``cfg.max_flops`` is spent before one optimizer step ends (a step of
    ``batch_size`` images costs ``batch_size × flops_per_image``)."""
    step_flops = cfg.batch_size * flops_per_image
    if cfg.max_flops is not None and cfg.max_flops < step_flops:
        raise ConfigError(
            f"max_flops {cfg.max_flops:.3g} is less than one optimizer step's {step_flops:.3g} "
            f"FLOPs ({cfg.batch_size} images × {flops_per_image:.3g}): raise the budget "
            "(--flops) or lower batch_size"
        )
