"""Sample grids and single images as PNG (numpy + Pillow; no torch), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

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


def save_labelled_grid(
    images: np.ndarray, labels: list[str], path: Path, nrow: int, scale: int = 2
) -> Path:
    """Tile uint8 images (N, H, W, C) ``nrow`` to a row and write them with ``labels[r]``
    printed left of row r (a prompt per row), as one RGB PNG. The labels, uncut, are also
    stored in the PNG as the JSON text chunk ``ROW_LABELS_KEY`` (read back with
    :func:`row_labels`), so a script finds each row's prompt without reading the picture."""
    grid = make_grid(images, nrow)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    image = Image.fromarray(grid)
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    font = ImageFont.load_default()
    rows, row_height = len(labels), image.height / max(1, -(-len(images) // nrow))
    texts = [_fit(label, LABEL_CHARS) for label in labels]
    margin = 8 + max(
        (int(ImageDraw.Draw(image).textlength(t, font=font)) for t in texts), default=0
    )
    canvas = Image.new("RGB", (image.width + margin, image.height), "white")
    canvas.paste(image, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, text in enumerate(texts[:rows]):
        draw.text((4, r * row_height + row_height / 2 - 5), text, fill="black", font=font)
    info = PngInfo()
    info.add_itxt(ROW_LABELS_KEY, json.dumps(list(labels), ensure_ascii=False))
    atomic_write(path, lambda tmp: canvas.save(tmp, format="PNG", pnginfo=info))
    return path


def row_labels(path: Path) -> list[str] | None:
    """The row labels a :func:`save_labelled_grid` PNG stores; None for another image."""
    with Image.open(path) as image:
        text = getattr(image, "text", {}).get(ROW_LABELS_KEY)
    return None if text is None else list(json.loads(text))


ROW_LABELS_KEY = "trigen:row-labels"
LABEL_CHARS = 48  # a row label longer than this is cut with an ellipsis


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def save_each(images: np.ndarray, directory: Path, labels: np.ndarray | None = None) -> list[Path]:
    """Write every image (N, H, W, C) as ``{index:05d}[_class{label}].png`` in ``directory``."""
    paths = []
    for i, img in enumerate(images):
        suffix = f"_class{int(labels[i])}" if labels is not None else ""
        paths.append(write_png(img, Path(directory) / f"{i:05d}{suffix}.png"))
    return paths
