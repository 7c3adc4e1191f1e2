"""The IDX file format (MNIST's original distribution format) and Fashion-MNIST, which uses it.

An IDX file is a big-endian header, ``0x00 0x00 <type code> <ndim>`` then ``ndim`` uint32 sizes,
followed by the array's elements in C order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trigen.data.splits import Split, check_split
from trigen.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
IDX_HEADER = struct.Struct(">HBB")  # zero word, type code, number of dimensions
IDX_DIM = struct.Struct(">I")
# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The file names MNIST and Fashion-MNIST use for each split: (images, labels); ".gz" optional.
IDX_SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped if it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw.startswith(GZIP_MAGIC) else raw
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist: check the path") from None
    except (OSError, EOFError) as err:  # also a truncated or corrupt gzip stream
        raise DataError(f"cannot read IDX file {path} ({err}): replace the file") from None


def read_idx(path: Path) -> np.ndarray:
    """The array stored in IDX file ``path`` (plain or gzip), in native byte order.

    Raises DataError for a bad magic number, an unknown type code or a size that does not match the
    header (a truncated or padded file).
    """
    data = _read_bytes(path)
    if len(data) < IDX_HEADER.size:
        raise DataError(f"{path} is too short to be an IDX file: replace the file")
    zero, code, ndim = IDX_HEADER.unpack_from(data)
    if zero != 0 or code not in IDX_DTYPES:
        magic = data[: IDX_HEADER.size].hex()
        raise DataError(f"{path} is not an IDX file (magic number 0x{magic}): check the path")
    offset = IDX_HEADER.size + ndim * IDX_DIM.size
    if len(data) < offset:
        raise DataError(f"{path} is truncated inside its IDX header: replace the file")
    shape = tuple(IDX_DIM.unpack_from(data, IDX_HEADER.size + 4 * i)[0] for i in range(ndim))
    dtype = IDX_DTYPES[code]
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path} holds {len(data)} bytes but its IDX header {shape} needs {expected}: "
            "the file is truncated or corrupt; replace it"
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (a dtype listed in IDX_DTYPES) to ``path`` as IDX; gzip if it ends in .gz."""
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}: convert to uint8, int32 or float")
    header = IDX_HEADER.pack(0, code, array.ndim)
    header += b"".join(IDX_DIM.pack(size) for size in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def find_idx_file(directory: Path, stem: str) -> Path:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists; DataError if neither."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory} has no {stem} or {stem}.gz: check the directory")


def load_idx_pair(images_path: Path, labels_path: Path) -> tuple[Tensor, Tensor]:
    """Images uint8 (N, 1, H, W) and labels int64 (N,) from an IDX images file and labels file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{images_path} holds {images.dtype} {images.shape}, not uint8 images (N, H, W)"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise DataError(f"{labels_path} holds {labels.dtype} {labels.shape}, not labels (N,) >= 0")
    if len(labels) != len(images):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def load_idx_directory(directory: Path, split: Split) -> tuple[Tensor, Tensor]:
    """Images uint8 (N, 1, H, W) and labels int64 (N,) of ``split`` from a directory of IDX files.

    The directory holds the MNIST-style names in IDX_SPLIT_FILES, each plain or gzip.
    """
    check_split(split)
    if not directory.is_dir():
        raise DataError(f"IDX directory {directory} does not exist: check the path")
    images_stem, labels_stem = IDX_SPLIT_FILES[split]
    return load_idx_pair(
        find_idx_file(directory, images_stem), find_idx_file(directory, labels_stem)
    )


def idx_num_classes(directory: Path) -> int:
    """1 + the largest label over every split's labels file present in ``directory``.

    Counting over all splits keeps train and test of one directory agreeing on the class count.
    """
    largest = -1
    for _, labels_stem in IDX_SPLIT_FILES.values():
        try:
            path = find_idx_file(directory, labels_stem)
        except DataError:
            continue  # a missing split: the one asked for is checked when it is loaded
        labels = read_idx(path)
        if labels.size:
            largest = max(largest, int(labels.max()))
    return largest + 1


def load_fashion_mnist(split: Split, directory: Path | None = None) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST ``split``: images uint8 (N, 1, 28, 28), labels int64 (N,) in 0..9.

    ``directory`` defaults to FASHION_MNIST_DIR, where Debian's package puts the files.
    """
    directory = FASHION_MNIST_DIR if directory is None else directory
    if not directory.is_dir():
        raise DataError(
            f"Fashion-MNIST not found at {directory}: `apt-get install {FASHION_MNIST_PACKAGE}` "
            "or pass a directory holding train-images-idx3-ubyte.gz and the other IDX files"
        )
    images, labels = load_idx_directory(directory, split)
    if labels.numel() and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise DataError(f"{directory} has labels above 9: it does not hold Fashion-MNIST")
    return images, labels
