"""Image folders made by the tests: PNG and JPEG of mixed sizes and modes, and broken ones."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trigen.data import load_dataset
from trigen.errors import ConfigError, DataError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _two_halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pets"
    _save(root / "cat" / "a.png", _two_halves(40, 30))
    _save(root / "cat" / "b.png", Image.new("RGBA", (20, 50), (0, 255, 0, 0)))  # transparent
    _save(root / "dog" / "c.jpg", Image.new("RGB", (64, 48), (128, 128, 128)))
    _save(root / "dog" / "d.png", Image.new("L", (10, 10), 77))
    (root / "dog" / "notes.txt").write_text("not an image, ignored")
    return root


@pytest.mark.parametrize("channels", [1, 3])
def test_classes_follow_sorted_subfolders(folder: Path, channels: int):
    ds = load_dataset("folder", "train", root=folder, resolution=16, channels=channels)
    assert ds.shape == (channels, 16, 16) and len(ds) == 4
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.images.dtype == torch.uint8


def test_modes_are_converted_faithfully(folder: Path):
    ds = load_dataset("folder", "train", root=folder, resolution=8, channels=3)
    assert bool((ds.images[1] == 255).all())  # fully transparent -> the white background
    assert bool((ds.images[3] == 77).all())  # grayscale repeated into three planes
    jpeg = ds.images[2].int()
    assert int((jpeg - 128).abs().max()) <= 2  # JPEG is lossy, but a flat grey stays grey


def test_shorter_side_is_scaled_then_centre_cropped(tmp_path: Path):
    _save(tmp_path / "only" / "wide.png", _two_halves(64, 32))
    ds = load_dataset("folder", "train", root=tmp_path, resolution=16)
    image = ds.images[0]
    # 64x32 -> 32x16 -> the centre 16x16: its left half is red, its right half blue.
    assert bool((image[0, :, :7] == 255).all()) and bool((image[2, :, :7] == 0).all())
    assert bool((image[2, :, 9:] == 255).all()) and bool((image[0, :, 9:] == 0).all())


def test_train_and_test_subfolders(folder: Path, tmp_path: Path):
    root = tmp_path / "split"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            _save(root / split / cls / "x.png", Image.new("RGB", (8, 8), RED))
    assert len(load_dataset("folder", "test", root=root, resolution=8)) == 2
    with pytest.raises(DataError, match="no test split"):
        load_dataset("folder", "test", root=folder, resolution=8)


def test_corrupt_image_names_the_file(folder: Path):
    bad = folder / "cat" / "a.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    with pytest.raises(DataError, match=r"a\.png.*remove or replace"):
        load_dataset("folder", "train", root=folder, resolution=8)
    bad.write_bytes(b"this is text with an image suffix")
    with pytest.raises(DataError, match=r"a\.png"):
        load_dataset("folder", "train", root=folder, resolution=8)


def test_missing_empty_and_classless_folders(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", "train", root=tmp_path / "absent", resolution=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        load_dataset("folder", "train", root=tmp_path / "empty", resolution=8)
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(DataError, match="has no images"):
        load_dataset("folder", "train", root=tmp_path / "empty", resolution=8)


def test_resolution_is_required(folder: Path):
    with pytest.raises(ConfigError, match="resolution"):
        load_dataset("folder", "train", root=folder)
