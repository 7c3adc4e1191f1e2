"""Morphometrics of digit images and their skeleton maps, after Morpho-MNIST (Castro et al. 2019).

:func:`measure_attributes` measures six attributes of each image (``ATTRIBUTES``), all in the
image's own pixels; :func:`skeleton_maps` extracts the 1-pixel skeleton that a map-conditioned
model is asked to follow. Both are deterministic, so that a sample can be measured with the same
extractor that made its condition (the ControlNet++ protocol). :func:`cached_attributes` and
:func:`cached_skeleton_maps` keep the results of a whole dataset on disk.

How the attributes are measured (the definitions of Morpho-MNIST's ``measure.py``, with the
departures marked):

1. Upsample ×4 (bicubic, then a Gaussian of σ = 2·4/6 high-resolution pixels, as
   scikit-image's ``pyramid_expand`` that Morpho-MNIST uses) and binarise at the mid level.
   Departure: the level is half the uint8 range, not half of each image's own range; on MNIST
   (black background, white strokes) they agree, and a faint generated sample is not stretched
   into strokes.
2. ``area``: foreground pixels / 16. ``length``: the skeleton's length, its 4-neighbour steps
   counting 1 and its diagonal steps √2. ``thickness``: twice the mean Euclidean distance to the
   background over the skeleton's pixels. Departure: the skeleton is scikit-image's
   ``skeletonize``, not ``medial_axis``, which rebuilds its lookup tables on every call (≈ 20 ms
   per image) and breaks ties with a random generator; both thin a stroke to its centre line.
3. ``slant``: arctan(−μ11/μ02) of the central moments of the foreground (x to the right, y
   down), in radians; positive leans the top to the right.
4. ``width`` and ``height``: the extents that hold all but ``BOUND_MASS`` of the foreground
   (half of it beyond each end), horizontally after undoing the slant's shear about the
   centroid, vertically as it is. Extents saturate for shears beyond ±45° (never in MNIST).
   Departure for 3 and 4: Morpho-MNIST weighs pixels by their upsampled grey level, whose
   interpolation tails widen a 2-pixel bar by about a pixel; the binary foreground keeps a
   bar's width at its drawn width.

An image without any pixel at or above the mid level has area 0, length 0 and NaN thickness,
slant, width and height.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.morphology import skeletonize
from torch import Tensor

from trigen.atomic import atomic_write
from trigen.errors import ConfigError, DataError

ATTRIBUTES = ("area", "length", "thickness", "slant", "width", "height")
"""Columns of :func:`measure_attributes`: area in px², slant in radians, the rest in px."""

UPSCALE = 4  # Morpho-MNIST measures at 4× resolution: thickness resolves to ¼ pixel
SMOOTHING_SIGMA = 2 * UPSCALE / 6  # high-res pixels; pyramid_expand's anti-aliasing blur
MID_LEVEL = 127.5  # binarisation threshold: half the uint8 range
BOUND_MASS = 0.02  # foreground left outside the width and height extents, half at each end
CHUNK = 512  # images upsampled at once: 512 × 112² float32 is 26 MB
CACHE_VERSION = 1  # part of every cache file name; bump when a definition here changes
_DIAGONAL = float(np.sqrt(2.0))
_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def measure_attributes(images: Tensor) -> np.ndarray:
    """The Morpho-MNIST attributes (N, 6) float64, columns ``ATTRIBUTES``, of uint8 images
    (N, 1, H, W) with light strokes on a dark background; units are the images' own pixels."""
    images = _check_images(images)
    parts = [_measure_chunk(images[i : i + CHUNK]) for i in range(0, len(images), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, len(ATTRIBUTES)))


def skeleton_maps(images: Tensor) -> Tensor:
    """The 1-pixel skeletons (N, 1, H, W) uint8 in {0, 255} of uint8 images (N, 1, H, W), at
    their own resolution: binarised at the mid level, then thinned (``skeletonize``)."""
    images = _check_images(images)
    binary = images[:, 0].numpy() >= MID_LEVEL
    maps = np.stack([_skeleton(b) for b in binary]) if len(binary) else binary
    return torch.from_numpy(maps.astype(np.uint8) * 255)[:, None]


def cached_attributes(images: Tensor, cache_dir: Path | None, key: str) -> np.ndarray:
    """:func:`measure_attributes` of ``images``, kept in ``cache_dir`` under ``key`` (a dataset
    name such as ``mnist-train``) and the images' sha256; ``cache_dir=None`` computes only."""
    shape = (images.shape[0], len(ATTRIBUTES))
    return _cached(lambda: measure_attributes(images), shape, images, cache_dir, key, "morpho")


def cached_skeleton_maps(images: Tensor, cache_dir: Path | None, key: str) -> Tensor:
    """:func:`skeleton_maps` of ``images``, cached as :func:`cached_attributes` is."""
    shape = tuple(images.shape)
    maps = _cached(lambda: skeleton_maps(images).numpy(), shape, images, cache_dir, key, "skel")
    return torch.from_numpy(maps)


def _check_images(images: Tensor) -> Tensor:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 1:
        raise DataError(
            f"morphometry needs uint8 grey images (N, 1, H, W), got {images.dtype} "
            f"{tuple(images.shape)}; convert samples to uint8 grey first"
        )
    return images.detach().cpu()


def _measure_chunk(images: Tensor) -> np.ndarray:
    """Attributes (n, 6) of a few uint8 images (n, 1, H, W)."""
    binary = _upsample(images) >= MID_LEVEL  # (n, 4H, 4W)
    strokes = np.array([_stroke(b) for b in binary]).reshape(-1, 2)  # (n, 2)
    length, radius = strokes[:, 0] / UPSCALE, strokes[:, 1]
    area = binary.sum(axis=(1, 2)) / UPSCALE**2
    shear, width, height = _slant_and_extents(binary)
    thickness = 2 * radius / UPSCALE
    columns = [area, length, thickness, np.arctan(-shear), width / UPSCALE, height / UPSCALE]
    out = np.stack(columns, axis=1)
    out[area == 0, 2:] = np.nan
    return out


def _upsample(images: Tensor) -> np.ndarray:
    """Grey levels (n, 4H, 4W) float32 of uint8 images (n, 1, H, W); bicubic ringing may
    overshoot [0, 255] a little."""
    up = F.interpolate(images.float(), scale_factor=UPSCALE, mode="bicubic", align_corners=False)
    return ndimage.gaussian_filter(up[:, 0].numpy(), (0, SMOOTHING_SIGMA, SMOOTHING_SIGMA))


def _stroke(binary: np.ndarray) -> tuple[float, float]:
    """Skeleton length and mean distance to the background over the skeleton (NaN without
    one), in pixels, of one (H, W) bool image; cropped to the foreground, which halves the work."""
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    if rows.size == 0:
        return 0.0, float("nan")
    crop = np.pad(binary[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 1)
    skeleton = skeletonize(crop)
    radius = ndimage.distance_transform_edt(crop)[skeleton].mean()
    return float(_skeleton_length(skeleton[None])[0]), float(radius)


def _skeleton(binary: np.ndarray) -> np.ndarray:
    """The skeleton of one (H, W) bool image, outside it background."""
    return skeletonize(np.pad(binary, 1))[1:-1, 1:-1]


def _skeleton_length(skeletons: np.ndarray) -> np.ndarray:
    """Lengths (n,) in pixels of 8-connected skeletons (n, H, W): 1 per 4-neighbour step, √2 per
    diagonal step that no 4-neighbour path already bridges (an L corner is not a triangle)."""
    s = skeletons
    vertical = s[:, 1:, :] & s[:, :-1, :]
    horizontal = s[:, :, 1:] & s[:, :, :-1]
    a, b, c, d = s[:, :-1, :-1], s[:, :-1, 1:], s[:, 1:, :-1], s[:, 1:, 1:]  # 2×2 windows
    diagonal = (a & d & ~b & ~c) | (b & c & ~a & ~d)  # ╲ or ╱ alone in its window
    straight = vertical.sum(axis=(1, 2)) + horizontal.sum(axis=(1, 2))
    return straight + _DIAGONAL * diagonal.sum(axis=(1, 2))


def _slant_and_extents(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shears μ11/μ02 (x's drift per row down), widths and heights (n,) of foregrounds
    (n, H, W), in their pixels; NaN without foreground (and the shear of a single row).

    Width and height span the BOUND_MASS/2 to 1 − BOUND_MASS/2 quantiles of the foreground,
    horizontally along the unsheared x − shear·(y − ȳ), binned with room for a shift of one image
    height each way.
    """
    n, h, w = binary.shape
    image, y, x = np.nonzero(binary)
    y, x = y + 0.5, x + 0.5  # pixel centres
    count = np.bincount(image, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):

        def mean(values: np.ndarray) -> np.ndarray:
            return np.bincount(image, values, minlength=n) / count

        y_mean, x_mean = mean(y), mean(x)
        shear = (mean(x * y) - x_mean * y_mean) / (mean(y * y) - y_mean**2)
    straight = np.nan_to_num(shear, nan=0.0, posinf=0.0, neginf=0.0)[image]
    unsheared = np.floor(x - straight * (y - y_mean[image])).astype(np.int64)
    bins = w + 2 * h
    cols = np.bincount(image * bins + np.clip(unsheared + h, 0, bins - 1), minlength=n * bins)
    return shear, _span(cols.reshape(n, bins)), _span(binary.sum(axis=2))


def _span(masses: np.ndarray) -> np.ndarray:
    """Distances (n,) between the BOUND_MASS/2 and 1 − BOUND_MASS/2 quantiles of masses (n, B)
    on unit bins, each bin's mass spread evenly over it; NaN without mass."""
    total = masses.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.concatenate([np.zeros_like(total), np.cumsum(masses, axis=1)], axis=1) / total
    low = _quantile(cdf, BOUND_MASS / 2)
    high = _quantile(cdf, 1 - BOUND_MASS / 2)
    return high - low


def _quantile(cdf: np.ndarray, q: float) -> np.ndarray:
    """Where (n,) each row of a CDF at bin edges 0..B (n, B + 1) reaches q, linearly between
    edges; NaN for a row of NaNs."""
    rows = np.arange(len(cdf))
    above = np.argmax(cdf >= q, axis=1).clip(1)  # first edge at or past q (edge 0 is 0 < q)
    lo, hi = cdf[rows, above - 1], cdf[rows, above]
    with np.errstate(invalid="ignore", divide="ignore"):
        position = above - 1 + (q - lo) / (hi - lo)
    return np.where(np.isfinite(cdf[:, -1]), position, np.nan)


def _cached(
    compute: Callable[[], np.ndarray],
    shape: tuple[int, ...],
    images: Tensor,
    cache_dir: Path | None,
    key: str,
    kind: str,
) -> np.ndarray:
    """``compute()`` or the array of ``shape`` cached for ``images`` in ``cache_dir``."""
    if cache_dir is None:
        return compute()
    if not _KEY.fullmatch(key):
        raise ConfigError(f"a cache key is letters, digits, '_', '.', '-', got {key!r}")
    path = Path(cache_dir) / f"{key}-{kind}-v{CACHE_VERSION}-{_content_hash(images)}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataError(f"cached {kind} file {path} is unreadable ({err}); delete it") from None
        if cached.shape != shape:
            raise DataError(
                f"cached {kind} file {path} holds {cached.shape}, not {shape}; delete it"
            )
        return cached
    values = compute()
    atomic_write(path, lambda tmp: np.save(tmp, values, allow_pickle=False), suffix=".npy")
    return values


def _content_hash(images: Tensor) -> str:
    """sha256 of the images' dtype, shape and bytes."""
    array = np.ascontiguousarray(images.detach().cpu().numpy())
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()
