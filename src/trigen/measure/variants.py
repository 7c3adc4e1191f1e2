"""The runs of a variant sweep: one family's recipe trained several ways at equal budget, with
one thing changed (the objective, DiT's conditioning, DiT's depth and width)."""

from __future__ import annotations

import dataclasses

from trigen.config import FamilyName, TrainConfig
from trigen.diffusion.precond import Objective

DIT_SIZES = {
    "depth 3 × 96": {"depth": 3, "hidden": 96, "heads": 2},
    "depth 6 × 128": {"depth": 6, "hidden": 128, "heads": 2},
    "depth 8 × 192": {"depth": 8, "hidden": 192, "heads": 3},
}
"""The DiT depths and widths of the scaling sweep, by name."""


def objective_configs(base: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """``base`` (a U-Net or DiT recipe) as trained by its diffusion objective and by flow
    matching (velocity on the straight path, logit-normal t); nothing else changes."""
    flow = dataclasses.replace(base.diffusion, objective=Objective.FLOW)
    name = "U-Net" if base.family is FamilyName.UNET else "DiT"
    return [
        (f"{name} (diffusion, {base.diffusion.prediction.value}-prediction)", base),
        (f"{name} (flow)", dataclasses.replace(base, diffusion=flow)),
    ]


def conditioning_configs(base: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """``base`` as a DiT-T/4 with each way of conditioning on the class."""
    from trigen.models.dit import Conditioning

    return [
        (
            v.value,
            dataclasses.replace(
                base,
                family=FamilyName.DIT,
                model="DiT-T/4",
                model_overrides={**base.model_overrides, "conditioning": v.value},
            ),
        )
        for v in Conditioning
    ]


def dit_scaling_configs(base: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """``base`` as a DiT-T/4 at each of :data:`DIT_SIZES`."""
    return [
        (
            k,
            dataclasses.replace(
                base,
                family=FamilyName.DIT,
                model="DiT-T/4",
                model_overrides={**base.model_overrides, **v},  # the recipe's RoPE stays
            ),
        )
        for k, v in DIT_SIZES.items()
    ]
