"""The objective study: one U-Net recipe trained by diffusion and by flow matching."""

import dataclasses
from pathlib import Path

import numpy as np
import torch

from trigen.compare.settings import Study
from trigen.compare.studies import VARIANT_STUDIES, variant_configs
from trigen.compare.training import train_config
from trigen.config import FamilyName
from trigen.data.idx import write_idx
from trigen.diffusion.precond import Objective
from trigen.experiment.settings import PRESETS, compare_settings


def test_objective_study_changes_only_the_objective() -> None:
    base = train_config(FamilyName.UNET, compare_settings("hour"))
    (diffusion_name, diffusion), (flow_name, flow) = variant_configs(base, Study.OBJECTIVE)
    assert diffusion == base and "U-Net" in diffusion_name and "flow" in flow_name
    assert flow.diffusion.objective is Objective.FLOW
    assert dataclasses.replace(flow, diffusion=base.diffusion) == base
    assert VARIANT_STUDIES[Study.OBJECTIVE] is FamilyName.UNET


def test_objective_study_runs_in_the_long_presets_only() -> None:
    assert Study.OBJECTIVE in PRESETS["hour"].studies
    assert Study.OBJECTIVE in PRESETS["claims"].studies
    assert Study.OBJECTIVE not in PRESETS["demo"].studies  # the demo's runtime stays


class FakeEvaluators:
    """Domain metrics without a classifier: the study's plumbing is under test, not FID."""

    def domain_quality(self, images, labels) -> dict:
        assert images.dtype == torch.uint8 and len(images) == len(labels)
        return {"domain_fid": float(images.float().mean()), "cond_accuracy": 0.5}


def _bars(root: Path) -> Path:
    """A tiny IDX dataset: 3 classes of horizontal bars at heights by class, 8×8."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("t10k", 16)):
        labels = rng.integers(0, 3, n).astype(np.uint8)
        images = np.zeros((n, 8, 8), np.uint8)
        for i, label in enumerate(labels):
            images[i, 1 + 2 * int(label) : 3 + 2 * int(label), 1:7] = 255
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return root


def test_objective_study_trains_both_variants_and_writes_rows(tmp_path) -> None:
    from trigen.compare.pieces import Pieces
    from trigen.compare.study_runs import run_studies
    from trigen.compare.training import train_config, train_or_reuse
    from trigen.data.datasets import load_dataset

    root = _bars(tmp_path / "data")
    s = compare_settings("smoke", studies=(Study.OBJECTIVE,), data_root=str(root), dataset="idx")
    test = load_dataset(s.dataset, "test", root=s.data_root, resolution=s.resolution)
    results = {"studies": {}, "notes": []}
    out, cpu = tmp_path / "out", torch.device("cpu")
    run_studies(
        s, {}, FakeEvaluators(), test, results, Pieces(out, {}, resume=False, seed=s.seed),
        out=out, device=cpu, log=print,
        train=lambda cfg, run_dir: train_or_reuse(cfg, run_dir, None, cpu, print),
        config_for=lambda name, **changes: train_config(name, s, **changes),
    )  # fmt: skip
    rows = results["studies"]["objective"]
    assert [r["variant"] for r in rows] == ["U-Net (diffusion, v-prediction)", "U-Net (flow)"]
    assert all(r["final_loss"] > 0 and r["params"] > 0 for r in rows)
