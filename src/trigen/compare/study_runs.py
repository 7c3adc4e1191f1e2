"""The studies of a comparison in order, each one piece (:mod:`trigen.compare.pieces`):
measured now, or read back as an interrupted earlier run of the same comparison left it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from trigen.compare import studies
from trigen.compare.pieces import Pieces
from trigen.compare.settings import CompareSettings, Study
from trigen.config import FamilyName, TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.measure.evaluators import Evaluators
from trigen.report.plots import receptive_fields
from trigen.runs import ConfigFor, Loaded, TrainAndLoad

Log = Callable[[str], None]


def run_studies(
    s: CompareSettings,
    runs: dict[FamilyName, Loaded],
    ev: Evaluators,
    test: ImageDataset,
    results: dict[str, Any],
    pieces: Pieces,
    *,
    out: Path,
    device: torch.device,
    log: Log,
    train: TrainAndLoad,
    config_for: ConfigFor,
    resolution: bool = True,
) -> None:
    """Run the studies ``s`` asks for into ``results["studies"]`` (notes into
    ``results["notes"]``); the variant studies ``train`` runs of ``config_for``'s recipes.
    ``resolution``: whether the resolution study runs when asked (not where a claim's sweep
    measures the same points)."""
    st = results["studies"]

    def study(key: str, title: str, compute: Callable[[], Any]) -> Any:
        def measured() -> Any:
            log(f"study: {title}")
            return compute()

        return pieces.run(f"study/{key}", measured)

    if Study.NFE in s.studies and ev.domain is None:  # its one quality metric would be n/a
        results["notes"].append("quality vs NFE skipped: it needs the domain classifier")
    elif Study.NFE in s.studies:
        st["nfe"] = study("nfe", "quality vs NFE", lambda: studies.nfe_study(runs, ev, s))
    if Study.CFG in s.studies:
        st["cfg"] = study("cfg", "guidance sweep", lambda: studies.cfg_study(runs, ev, s))
    if Study.RESOLUTION in s.studies and resolution:
        st["resolution"] = study(
            "resolution",
            "latency and memory vs resolution",
            lambda: studies.resolution_study(runs, s, device),
        )
    if Study.RECEPTIVE_FIELD in s.studies:
        fields = partial(_receptive_field_study, runs, test, out)
        st.update(study("receptive_field", "effective receptive fields", fields))
    for variants, family in studies.VARIANT_STUDIES.items():
        if variants in s.studies:
            key = variants.value
            base = config_for(family, **s.variant_budget)
            rows = partial(_variant_study, key, base, s, out, ev, train)
            st[key] = study(key, f"{key} ({family.value} variants at equal budget)", rows)


def _receptive_field_study(
    runs: dict[FamilyName, Loaded], test: ImageDataset, out: Path
) -> dict[str, Any]:
    """The receptive-field entries of ``results["studies"]``: radii, and the figure's name."""
    maps = studies.receptive_field_maps(runs, test)
    entries: dict[str, Any] = {}
    if receptive_fields(maps, out / "report" / "receptive_fields.png") is not None:
        entries["receptive_field_png"] = "receptive_fields.png"
    entries["receptive_field"] = studies.receptive_field_radii(maps)
    return entries


def _variant_study(
    key: str,
    base: TrainConfig,
    s: CompareSettings,
    out: Path,
    ev: Evaluators,
    train: TrainAndLoad,
) -> list[dict[str, Any]]:
    """The rows of variant study ``key``: the recipe ``base`` trained several ways."""
    rows = []
    for variant, cfg in studies.variant_configs(base, key):
        loaded, summary = train(cfg, out / key / variant.replace(" ", "_").replace("×", "x"))
        rows.append(studies.variant_row(variant, loaded, summary.get("final_loss"), ev, s))
    return rows
