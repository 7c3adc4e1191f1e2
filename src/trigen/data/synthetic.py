"""Mirror: a synthetic grayscale set whose only long-range dependency links two far corners.

Each image is four quadrants of random shapes on black. The bottom-right quadrant is the exact
point mirror (a 180° rotation) of the top-left one; the top-right and bottom-left quadrants are
drawn independently. A generator that has not learnt the TL↔BR link draws plausible quadrants
that do not match (``trigen.eval.consistency`` measures it exactly).

A quadrant holds one or two shapes of one kind (disc, ring, square, plus, stroke), each at a
random place, size and brightness, with antialiased edges one pixel wide. The class (10) is the
top-left quadrant's content: ``count`` shapes of ``kind``, class = (count − 1)·5 + kind index.
The other quadrants draw kind and count at random, independent of the class.

Shapes are placed in units of the quadrant side and rendered at the asked resolution, so a split
holds the same scenes at every (even) resolution, and the mirror stays exact. Each split comes
from its own fixed seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from trigen.data.splits import Split, check_split
from trigen.data.transforms import PIXEL_MAX
from trigen.errors import ConfigError

MIRROR_SIDE = 32  # native side in pixels: four 16×16 quadrants
MIRROR_SIZES: dict[str, int] = {"train": 20_000, "test": 2_000}
MIRROR_SEEDS: dict[str, int] = {"train": 20_240_601, "test": 20_240_602}
SHAPE_KINDS = ("disc", "ring", "square", "plus", "stroke")
MAX_SHAPES = 2  # shapes per quadrant: 1 or 2
MIRROR_CLASSES = tuple(
    f"{count} {kind}{'s' if count > 1 else ''}"
    for count in range(1, MAX_SHAPES + 1)
    for kind in SHAPE_KINDS
)
# Shape geometry in quadrant units (the quadrant is the unit square).
CENTRE_RANGE = (0.2, 0.8)
SIZE_RANGE = (0.18, 0.32)  # disc/ring radius, square and plus half-side, stroke half-length
BRIGHTNESS_RANGE = (0.5, 1.0)  # of white, on a black background
LINE_WIDTH = 0.125  # ring, plus and stroke thickness
SQUARE_SCALE = 0.85  # a square's half-side relative to the size, for an area near the disc's
STROKE_SCALE = 1.5  # a stroke's half-length relative to the size
EDGE_PX = 1.0  # width of the antialiased edge ramp, in pixels at any resolution


def _signed_distance(kind: int, gx: np.ndarray, gy: np.ndarray, p: dict) -> np.ndarray:
    """Signed distance (quadrant units, < 0 inside) of shape ``kind`` for n shapes at once.

    ``gx``, ``gy`` (1, s, s) pixel-centre x and y ([row, column]); ``p`` holds (n, 1, 1)
    parameters. Returns (n, s, s).
    """
    dx, dy = gx - p["x"], gy - p["y"]  # (n, s, s)
    size, half_line = p["size"], LINE_WIDTH / 2
    radius = np.hypot(dx, dy)
    if SHAPE_KINDS[kind] == "disc":
        return radius - size
    if SHAPE_KINDS[kind] == "ring":
        return np.abs(radius - size) - half_line
    if SHAPE_KINDS[kind] == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - SQUARE_SCALE * size
    if SHAPE_KINDS[kind] == "plus":
        across = np.maximum(np.abs(dx) - size, np.abs(dy) - half_line)
        down = np.maximum(np.abs(dy) - size, np.abs(dx) - half_line)
        return np.minimum(across, down)
    # stroke: distance to a segment through the centre at angle p["angle"]
    ux, uy = np.cos(p["angle"]), np.sin(p["angle"])
    along = np.clip(dx * ux + dy * uy, -STROKE_SCALE * size, STROKE_SCALE * size)
    return np.hypot(dx - along * ux, dy - along * uy) - half_line


def _draw_parameters(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Parameters of n shapes, each (n, 1, 1) float32, drawn in a fixed order."""
    names_ranges = (
        ("x", CENTRE_RANGE),
        ("y", CENTRE_RANGE),
        ("size", SIZE_RANGE),
        ("brightness", BRIGHTNESS_RANGE),
        ("angle", (0.0, np.pi)),
    )
    return {
        name: rng.uniform(*bounds, size=(n, 1, 1)).astype(np.float32)
        for name, bounds in names_ranges
    }


def _render_quadrants(
    rng: np.random.Generator, kinds: np.ndarray, counts: np.ndarray, side: int
) -> np.ndarray:
    """Quadrants (n, side, side) float32 in [0, 1]: ``counts[i]`` shapes of ``kinds[i]``."""
    n = kinds.shape[0]
    centres = ((np.arange(side) + 0.5) / side).astype(np.float32)  # pixel centres in quadrant units
    gx, gy = (grid[None] for grid in np.meshgrid(centres, centres))  # (1, side, side) each
    out = np.zeros((n, side, side), dtype=np.float32)
    for slot in range(MAX_SHAPES):
        params = _draw_parameters(rng, n)  # drawn for every image: the stream is size-independent
        for kind in range(len(SHAPE_KINDS)):
            index = np.flatnonzero((kinds == kind) & (counts > slot))
            if index.size == 0:
                continue
            chosen = {name: value[index] for name, value in params.items()}
            distance_px = _signed_distance(kind, gx, gy, chosen) * side
            cover = np.clip(0.5 - distance_px / EDGE_PX, 0.0, 1.0)
            out[index] = np.maximum(out[index], chosen["brightness"] * cover)
    return out


def mirror_images(n: int, seed: int, side: int = MIRROR_SIDE) -> tuple[Tensor, Tensor]:
    """``n`` mirror images from ``seed``: uint8 (n, 1, side, side) and int64 class labels (n,).

    ``side`` must be even (four equal quadrants).
    """
    if side < 2 or side % 2:
        raise ConfigError(f"the mirror dataset needs an even resolution ≥ 2, got {side}")
    rng = np.random.default_rng(seed)
    half = side // 2
    labels = rng.integers(0, len(MIRROR_CLASSES), size=n)
    top_left = _render_quadrants(
        rng, labels % len(SHAPE_KINDS), labels // len(SHAPE_KINDS) + 1, half
    )
    others = []
    for _ in range(2):  # top-right, bottom-left: kind and count independent of the class
        kinds = rng.integers(0, len(SHAPE_KINDS), size=n)
        counts = rng.integers(1, MAX_SHAPES + 1, size=n)
        others.append(_render_quadrants(rng, kinds, counts, half))
    top_right, bottom_left = others
    image = np.empty((n, side, side), dtype=np.float32)
    image[:, :half, :half] = top_left
    image[:, :half, half:] = top_right
    image[:, half:, :half] = bottom_left
    image[:, half:, half:] = top_left[:, ::-1, ::-1]  # the point mirror
    pixels = np.rint(image * PIXEL_MAX).astype(np.uint8)[:, None]  # (n, 1, side, side)
    return torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64))


def load_mirror(split: Split, side: int = MIRROR_SIDE) -> tuple[Tensor, Tensor]:
    """The mirror set's ``split`` (20,000 train or 2,000 test images) rendered at ``side``."""
    split = check_split(split)
    return mirror_images(MIRROR_SIZES[split], MIRROR_SEEDS[split], side)
