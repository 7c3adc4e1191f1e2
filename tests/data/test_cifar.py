"""CIFAR-10 python batches built by the tests in the official layout, and the unpickler's guard."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.cifar import CIFAR10_CLASSES, CIFAR_SUBDIR
from trigen.errors import ConfigError, DataError

PER_BATCH = 4
MARK = 200  # a value written at red plane, row 0, column 1, to check the channel/row layout


def _batch(first_label: int, n: int = PER_BATCH) -> dict:
    """A batch whose image i has planes R=10, G=20, B=30 and one marked red pixel."""
    planes = np.concatenate([np.full(1024, v, np.uint8) for v in (10, 20, 30)])
    data = np.tile(planes, (n, 1))
    data[:, 1] = MARK
    labels = [(first_label + i) % 10 for i in range(n)]
    return {b"batch_label": b"test batch", b"labels": labels, b"data": data, b"filenames": []}


def _write(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=4))


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    directory = tmp_path / CIFAR_SUBDIR
    directory.mkdir()
    for i in range(1, 6):
        _write(directory / f"data_batch_{i}", _batch(first_label=i))
    _write(directory / "test_batch", _batch(first_label=0))
    names = [f"class{i}".encode() for i in range(10)]
    _write(directory / "batches.meta", {b"label_names": names, b"num_cases_per_batch": 4})
    return directory


def test_train_concatenates_five_batches_in_order(cifar_dir: Path):
    ds = load_dataset("cifar10", "train", root=cifar_dir.parent)  # the archive's parent works too
    assert len(ds) == 5 * PER_BATCH and ds.shape == (3, 32, 32)
    assert ds.images.dtype == torch.uint8
    expected = [(b + i) % 10 for b in range(1, 6) for i in range(PER_BATCH)]
    assert ds.labels.tolist() == expected
    assert ds.class_names == [f"class{i}" for i in range(10)] and ds.num_classes == 10


def test_rows_are_red_green_blue_planes_row_major(cifar_dir: Path):
    ds = load_dataset("cifar10", "test", root=cifar_dir)
    assert len(ds) == PER_BATCH
    image = ds.images[0]
    assert int(image[0, 0, 1]) == MARK and int(image[0, 0, 0]) == 10
    assert int(image[1].float().mean()) == 20 and bool((image[2] == 30).all())


def test_resolution_and_grayscale(cifar_dir: Path):
    ds = load_dataset("cifar10", "test", root=cifar_dir, resolution=16, channels=1)
    assert ds.shape == (1, 16, 16)
    small = load_dataset("cifar10", "test", root=cifar_dir, resolution=8)
    assert bool((small.images[:, 2] == 30).all())  # a constant plane stays constant


def test_meta_is_optional(cifar_dir: Path):
    (cifar_dir / "batches.meta").unlink()
    assert load_dataset("cifar10", "test", root=cifar_dir).class_names == list(CIFAR10_CLASSES)


def test_missing_batch_names_the_file(cifar_dir: Path):
    (cifar_dir / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", "train", root=cifar_dir)


def test_wrong_row_length_is_a_data_error(cifar_dir: Path):
    batch = _batch(0)
    batch[b"data"] = batch[b"data"][:, :100]
    _write(cifar_dir / "test_batch", batch)
    with pytest.raises(DataError, match="test_batch"):
        load_dataset("cifar10", "test", root=cifar_dir)


def test_root_is_required():
    with pytest.raises(ConfigError, match="needs root"):
        load_dataset("cifar10", "train")


class _RunsCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_and_never_runs(cifar_dir: Path, tmp_path: Path):
    marker = tmp_path / "pwned"
    batch = _batch(0)
    batch[b"labels"] = _RunsCommand(marker)
    _write(cifar_dir / "test_batch", batch)
    with pytest.raises(DataError, match=r"test_batch.*refusing to unpickle"):
        load_dataset("cifar10", "test", root=cifar_dir)
    assert not marker.exists()


def test_truncated_pickle_is_a_data_error(cifar_dir: Path):
    path = cifar_dir / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset("cifar10", "test", root=cifar_dir)
