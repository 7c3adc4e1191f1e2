"""IDX files written by the tests: the reader, the writer, Fashion-MNIST and generic IDX dirs."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from trigen.data import load_dataset
from trigen.data.idx import FASHION_MNIST_CLASSES, IDX_SPLIT_FILES, read_idx, write_idx
from trigen.errors import DataError


def _hand_written_idx(array: np.ndarray) -> bytes:
    """IDX bytes built from the format's definition, independently of write_idx (uint8 only)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _digits(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    return images, rng.integers(0, 10, n).astype(np.uint8)


def _write_split_dir(directory: Path, sizes: dict[str, int], suffix: str) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in sizes.items():
        images, labels = _digits(n, seed=n)
        image_stem, label_stem = IDX_SPLIT_FILES[split]
        for stem, array in ((image_stem, images), (label_stem, labels)):
            data = _hand_written_idx(array)
            path = directory / f"{stem}{suffix}"
            path.write_bytes(gzip.compress(data) if suffix == ".gz" else data)
        written[split] = (images, labels)
    return written


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_reader_decodes_hand_written_files(tmp_path: Path, suffix: str):
    images, _ = _digits(5)
    path = tmp_path / f"images{suffix}"
    data = _hand_written_idx(images)
    path.write_bytes(gzip.compress(data) if suffix else data)
    assert np.array_equal(read_idx(path), images)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_bad_magic_and_truncation_are_data_errors(tmp_path: Path):
    good = _hand_written_idx(_digits(3)[0])
    not_idx = tmp_path / "not_idx"
    not_idx.write_bytes(b"\x89PNG" + good[4:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(not_idx)
    cut = tmp_path / "cut"
    cut.write_bytes(good[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(cut)
    broken_gz = tmp_path / "broken.gz"
    broken_gz.write_bytes(gzip.compress(good)[:40])
    with pytest.raises(DataError, match=str(broken_gz)):
        read_idx(broken_gz)


def test_fashion_mnist_from_a_directory(tmp_path: Path):
    written = _write_split_dir(tmp_path / "fashion", {"train": 12, "test": 5}, ".gz")
    for split in ("train", "test"):
        ds = load_dataset("fashion_mnist", split, root=tmp_path / "fashion")
        images, labels = written[split]
        assert ds.shape == (1, 28, 28) and ds.name == "fashion_mnist"
        assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
        assert torch.equal(ds.labels, torch.from_numpy(labels).long())
        assert ds.class_names == list(FASHION_MNIST_CLASSES) and ds.num_classes == 10
    padded = load_dataset("fashion_mnist", "test", root=tmp_path / "fashion", resolution=32)
    assert padded.shape == (1, 32, 32) and int(padded.images[:, :, :2].max()) == 0


def test_missing_fashion_directory_says_how_to_install(tmp_path: Path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", "train", root=tmp_path / "absent")


def test_generic_idx_directory_counts_classes_over_both_splits(tmp_path: Path):
    written = _write_split_dir(tmp_path, {"train": 8, "test": 4}, "")
    largest = max(int(labels.max()) for _, labels in written.values())
    ds = load_dataset("idx", "test", root=tmp_path)
    assert len(ds) == 4 and ds.num_classes == largest + 1
    assert ds.class_names == [str(i) for i in range(largest + 1)]


def test_image_and_label_counts_must_agree(tmp_path: Path):
    _write_split_dir(tmp_path, {"train": 6}, "")
    labels = tmp_path / IDX_SPLIT_FILES["train"][1]
    labels.write_bytes(_hand_written_idx(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="6 images but"):
        load_dataset("idx", "train", root=tmp_path)
