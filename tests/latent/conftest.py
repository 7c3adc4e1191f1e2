"""Shared fixtures: one tiny dataset and one briefly trained klvae run per test session."""

from pathlib import Path

import pytest

from trigen import api
from trigen.config import TrainConfig

from .helpers import write_idx_dataset


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    return write_idx_dataset(tmp_path_factory.mktemp("idx"))


def klvae_config(root: Path, **values) -> TrainConfig:
    settings = dict(
        family="klvae",
        dataset="idx",
        data_root=str(root),
        batch_size=16,
        max_steps=4,
        warmup_images=0,
        lr=2e-3,
        log_every=2,
    )
    return TrainConfig(**{**settings, **values})


@pytest.fixture(scope="session")
def klvae_run(tmp_path_factory, idx_root) -> Path:
    """A klvae run directory trained for 4 steps (its scale factor computed at the end)."""
    out = tmp_path_factory.mktemp("kl") / "run"
    api.train(klvae_config(idx_root), out, device="cpu")
    return out
