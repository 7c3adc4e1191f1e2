"""Image folders: one subfolder per class, PNG or JPEG files, decoded once into memory.

Layout: ``root/<class>/<image>``; class indices follow the sorted subfolder names. If ``root``
holds ``train/`` and ``test/`` subfolders, each split reads its own; otherwise ``root`` is the
training split and has no test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from trigen.data.splits import Split, check_split
from trigen.data.transforms import check_channels, check_resolution
from trigen.errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto white, as a viewer shows them
RESAMPLE = Image.Resampling.BICUBIC  # Pillow's resize filters are antialiased when shrinking
MODE_FOR_CHANNELS = {1: "L", 3: "RGB"}
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L"})
# Pillow's converters clip 16-bit values to 255 instead of scaling them; divide by 65535/255.
SIXTEEN_TO_EIGHT_BIT = 257
# Everything Pillow raises for an unreadable, truncated or absurdly large file.
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def class_folders(root: Path) -> list[Path]:
    """The class subfolders of ``root``, sorted by name (hidden ones skipped)."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist: check the path")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not folders:
        raise DataError(
            f"image folder {root} has no class subfolders: put images in {root}/<class name>/"
        )
    return folders


def image_files(folder: Path) -> list[Path]:
    """The PNG/JPEG files directly inside ``folder``, sorted by name; DataError if none."""
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DataError(f"class folder {folder} has no images ({suffixes}): add some or remove it")
    return files


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """``img`` in ``mode`` ("L" or "RGB"), transparency flattened onto BACKGROUND."""
    if img.mode in SIXTEEN_BIT_MODES:
        img = Image.fromarray((np.asarray(img) // SIXTEEN_TO_EIGHT_BIT).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba)
    return img.convert(mode)


def resize_center_crop(img: Image.Image, resolution: int) -> Image.Image:
    """Scale ``img`` so its shorter side is ``resolution``, then crop the centre square."""
    width, height = img.size
    scale = resolution / min(width, height)
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    if size != img.size:
        img = img.resize(size, RESAMPLE)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return img.crop((left, top, left + resolution, top + resolution))


def load_image(path: Path, resolution: int, channels: int) -> np.ndarray:
    """One image file -> uint8 (channels, resolution, resolution); DataError naming a bad file."""
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # camera JPEGs store rotation as a tag
            img = resize_center_crop(_to_mode(img, MODE_FOR_CHANNELS[channels]), resolution)
            pixels = np.asarray(img, dtype=np.uint8)
    except IMAGE_ERRORS as err:
        raise DataError(f"cannot read image {path} ({err}): remove or replace the file") from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def split_root(root: Path, split: Split) -> Path:
    """Where ``split`` lives: ``root/split`` if ``root`` has train/ and test/, else ``root``."""
    check_split(split)
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / split
    if split == "test":
        raise DataError(
            f"image folder {root} has no test split: make {root}/train/<class>/ and "
            f"{root}/test/<class>/ or use split 'train'"
        )
    return root


def load_image_folder(
    root: Path, split: Split, resolution: int, channels: int = 3
) -> tuple[Tensor, Tensor, list[str]]:
    """Images uint8 (N, channels, resolution, resolution), labels int64 (N,) and class names.

    Every image is scaled (shorter side to ``resolution``) and centre-cropped once, here.
    """
    check_resolution(resolution)
    check_channels(channels)
    folders = class_folders(split_root(root, split))
    if split == "test":  # class indices must mean the same in both splits
        train_names = [folder.name for folder in class_folders(root / "train")]
        if [folder.name for folder in folders] != train_names:
            raise DataError(
                f"{root}/test and {root}/train have different class subfolders: make them match"
            )
    files = [(label, path) for label, folder in enumerate(folders) for path in image_files(folder)]
    images = np.empty((len(files), channels, resolution, resolution), dtype=np.uint8)
    for i, (_, path) in enumerate(files):
        images[i] = load_image(path, resolution, channels)
    labels = torch.tensor([label for label, _ in files], dtype=torch.int64)
    return torch.from_numpy(images), labels, [folder.name for folder in folders]
