"""A grid with a label per row (prompts): the picture and the labels stored with it (issue 26)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from trigen.report.grids import make_grid, row_labels, save_grid, save_labelled_grid

LABELS = ["a thin seven, upright", "grinning face with big eyes; happy, smile", "ü — ✓"]


def images(n: int = 6, side: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(128, 256, size=(n, side, side, 1), dtype=np.uint8)  # never black


def test_each_row_label_is_stored_uncut_and_printed_beside_its_own_row(tmp_path):
    path = save_labelled_grid(images(), LABELS, tmp_path / "grid.png", nrow=2, scale=2)
    assert row_labels(path) == LABELS
    canvas = np.asarray(Image.open(path).convert("RGB"))
    grid = np.repeat(np.repeat(make_grid(images(), 2), 2, axis=0), 2, axis=1)
    margin = canvas.shape[1] - grid.shape[1]
    assert margin > 8 and canvas.shape[0] == grid.shape[0]
    assert np.array_equal(canvas[:, margin:, 0], grid[..., 0])  # the samples, untouched
    band = canvas.shape[0] / 3
    for r in range(3):  # black ink in the margin inside every row's band
        rows = canvas[int(r * band) : int((r + 1) * band), :margin]
        assert (rows < 100).any(), r


def test_a_plain_grid_has_no_row_labels(tmp_path):
    assert row_labels(save_grid(images(), tmp_path / "plain.png", nrow=3)) is None
