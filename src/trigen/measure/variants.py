"""The runs of a variant sweep: one family's recipe trained several ways at equal budget, with
one thing changed (the objective, DiT's conditioning, DiT's depth and width)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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


INJECTIONS: dict[str, tuple[FamilyName, dict[str, str]]] = {
    # t, y, the vector, the map's patches and the caption's states: all tokens in one attention
    "dit_uniform": (
        FamilyName.DIT,
        {
            "conditioning": "in_context",
            "vector_injection": "tokens",
            "map_injection": "tokens",
            "text_injection": "tokens",
        },
    ),
    # adaLN-Zero for t, y and the vector; a zero patch embedding for the map; cross-attention
    "dit_specialised": (
        FamilyName.DIT,
        {
            "conditioning": "adaln_zero",
            "vector_injection": "adaln",
            "map_injection": "patch",
            "text_injection": "cross_attn",
        },
    ),
    # the vector into the time embedding (AdaGN), the map through a hint encoder, the caption
    # by cross-attention (and pooled into the time embedding)
    "unet": (FamilyName.UNET, {"map_injection": "hint"}),
    # every condition a prefix before the image tokens (LlamaGen)
    "ar_prefix": (FamilyName.AR, {}),
}
"""The condition injection mechanisms C15 compares, by name: (family, model overrides)."""


def injection_configs(recipe: Callable[[FamilyName], TrainConfig]) -> list[tuple[str, TrainConfig]]:
    """Each of :data:`INJECTIONS` on its family's ``recipe`` (the comparison's, with the run's
    budget, seed and conditions), its mechanism's overrides on top of the recipe's own."""
    runs = []
    for name, (family, overrides) in INJECTIONS.items():
        base = recipe(family)
        runs.append(
            (name, dataclasses.replace(base, model_overrides={**base.model_overrides, **overrides}))
        )
    return runs
