"""Sample grids and single images as PNG (numpy + Pillow; no torch), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from trigen.atomic import atomic_write


def make_grid(images: np.ndarray, nrow: int, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one grid array, row-major, ``pad`` pixels apart."""
    n, h, w, c = images.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = img
    return grid


def write_png(array: np.ndarray, path: Path, scale: int = 1) -> Path:
    """Write uint8 (H, W, C) with C ∈ {1, 3} to ``path`` via a temporary file and rename."""
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


def save_grid(images: np.ndarray, path: Path, nrow: int, scale: int = 2) -> Path:
    """Tile and write uint8 images (N, H, W, C) as one PNG."""
    return write_png(make_grid(images, nrow), path, scale=scale)


def save_each(images: np.ndarray, directory: Path, labels: np.ndarray | None = None) -> list[Path]:
    """Write every image (N, H, W, C) as ``{index:05d}[_class{label}].png`` in ``directory``."""
    paths = []
    for i, img in enumerate(images):
        suffix = f"_class{int(labels[i])}" if labels is not None else ""
        paths.append(write_png(img, Path(directory) / f"{i:05d}{suffix}.png"))
    return paths
