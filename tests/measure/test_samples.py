"""Measurement draws the images `trigen sample` draws (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trigen import api
from trigen.build import DataSpec, build_family
from trigen.config import TrainConfig
from trigen.families.base import SampleSpec
from trigen.measure.samples import generate
from trigen.sampling import class_labels

TINY = {
    "dit": {"depth": 1, "hidden": 32, "heads": 2},
    "ar": {"depth": 1, "width": 32, "heads": 2},
}


@pytest.mark.parametrize("name", ["dit", "ar"])
def test_generate_gives_the_images_sample_gives(name):
    torch.manual_seed(0)
    cfg = TrainConfig(family=name, model_overrides=TINY[name])
    family = build_family(cfg, DataSpec((1, 8, 8), 10), "cpu")
    labels, spec = class_labels(10, 7), SampleSpec(steps=3)
    measured = generate(family, labels, spec, seed=4, batch=3)  # three chunks: 3, 3, 1
    sampled = api.sample(family, labels, spec, seed=4, batch_size=3)  # (N, H, W, C)
    assert measured.shape == (7, 1, 8, 8) and measured.dtype == torch.uint8
    assert np.array_equal(measured.permute(0, 2, 3, 1).numpy(), sampled)
