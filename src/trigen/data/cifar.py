"""CIFAR-10 in its "python version" layout: pickled batches in one directory.

Each batch file is a pickled dict with ``b"data"`` (uint8 (N, 3072): 1024 red, then green, then blue
values of a 32x32 image, row-major) and ``b"labels"`` (N ints in 0..9); ``batches.meta`` holds
``b"label_names"``. The files are loaded with a restricted unpickler that admits numpy arrays only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.data.safe_pickle import load_restricted
from trigen.data.splits import Split, check_split
from trigen.errors import DataError

CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILES = ("test_batch",)
CIFAR_META_FILE = "batches.meta"
CIFAR_SUBDIR = "cifar-10-batches-py"  # what the official archive unpacks to
CIFAR_SIDE = 32
CIFAR_CHANNELS = 3
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_HOW_TO = "pass the directory that holds data_batch_1..5, test_batch and batches.meta"


def cifar_directory(root: Path) -> Path:
    """``root`` itself, or its ``cifar-10-batches-py`` subdirectory when the batches are there."""
    if not root.is_dir():
        raise DataError(f"CIFAR-10 directory {root} does not exist: {_HOW_TO}")
    nested = root / CIFAR_SUBDIR
    return nested if (nested / CIFAR_TEST_FILES[0]).is_file() else root


def _read_pickle(path: Path) -> dict:
    """One pickled dict from ``path``; DataError if missing, refused or not a dict."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 file {path} is missing: {_HOW_TO}")
    with path.open("rb") as f:
        content = load_restricted(f, path, encoding="bytes")
    if not isinstance(content, dict):
        raise DataError(f"{path} does not hold a CIFAR-10 dict: replace the file")
    return content


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32) and labels int64 (N,) in 0..9."""
    batch = _read_pickle(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    row = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise DataError(f"{path} has no uint8 b'data' array (N, {row}): replace the file")
    if data.shape[1] != row:
        raise DataError(f"{path} rows hold {data.shape[1]} values, not {row}: replace the file")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path} b'labels' is not a list of ints: replace the file") from None
    if labels.shape != (len(data),):
        raise DataError(f"{path} has {len(data)} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise DataError(f"{path} has labels outside 0..9: replace the file")
    images = data.reshape(len(data), CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE)
    return images, labels


def cifar_class_names(directory: Path) -> list[str]:
    """The names in ``batches.meta`` if present and well-formed, else CIFAR10_CLASSES."""
    path = directory / CIFAR_META_FILE
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    names = _read_pickle(path).get(b"label_names")
    if not (isinstance(names, list) and len(names) == len(CIFAR10_CLASSES)):
        raise DataError(f"{path} has no list of 10 b'label_names': replace the file")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def load_cifar10(split: Split, root: Path) -> tuple[Tensor, Tensor, list[str]]:
    """CIFAR-10 ``split`` in ``root``: images uint8 (N, 3, 32, 32), labels int64 (N,), class names.

    ``train`` concatenates data_batch_1..5 in order; ``test`` is test_batch.
    """
    check_split(split)
    directory = cifar_directory(root)
    files = CIFAR_TRAIN_FILES if split == "train" else CIFAR_TEST_FILES
    parts = [read_cifar_batch(directory / name) for name in files]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    names = cifar_class_names(directory)
    return torch.from_numpy(images), torch.from_numpy(labels), names
