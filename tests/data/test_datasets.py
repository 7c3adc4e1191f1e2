"""ImageDataset, load_dataset's option checks, and the pixel transforms."""

import pytest
import torch

from trigen.batch import Batch
from trigen.data import DatasetName, ImageDataset, from_model_range, load_dataset, to_model_range
from trigen.data.transforms import convert_channels, pad_uint8, resize_uint8
from trigen.errors import ConfigError, DataError


def _toy(n: int = 6, channels: int = 3) -> ImageDataset:
    images = torch.randint(0, 256, (n, channels, 8, 8), dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % 2, 2, ["no", "yes"], "toy")


def test_every_byte_round_trips_through_model_range():
    every = torch.arange(256, dtype=torch.uint8)
    model = to_model_range(every)
    assert float(model[0]) == -1 and float(model[-1]) == 1
    assert bool((model[1:] > model[:-1]).all())
    assert torch.equal(from_model_range(model), every)
    assert from_model_range(torch.tensor([-3.0, 2.0])).tolist() == [0, 255]  # clamped


def test_getitem_gives_batches_in_model_range():
    ds = _toy()
    one = ds[2]
    assert isinstance(one, Batch) and one.images.shape == (1, 3, 8, 8)
    assert torch.equal(from_model_range(one.images), ds.images[2:3])
    assert torch.equal(ds[torch.tensor(2)].images, one.images) and ds[-1].labels.tolist() == [1]
    some = ds[1:4]
    assert some.images.shape == (3, 3, 8, 8) and some.labels.tolist() == [1, 0, 1]
    assert ds.shape == (3, 8, 8) and len(ds) == 6


def test_dataset_checks_its_fields():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(images.float(), torch.zeros(2, dtype=torch.long), 1, ["a"], "bad")
    with pytest.raises(DataError, match="labels must lie"):
        ImageDataset(images, torch.tensor([0, 3]), 2, ["a", "b"], "bad")
    with pytest.raises(DataError, match="class names"):
        ImageDataset(images, torch.tensor([0, 1]), 2, ["a"], "bad")
    unconditional = ImageDataset(images, torch.zeros(2, dtype=torch.long), 0, [], "ok")
    assert unconditional.num_classes == 0


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_dataset("imagenet", "train")
    for member in DatasetName:
        assert member.value in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "valid"}, "unknown split"),
        ({"split": "train", "channels": 2}, "channels"),
        ({"split": "train", "resolution": 0}, "resolution"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_dataset("mnist", **kwargs)


def test_gray_to_rgb_and_back_is_lossless():
    gray = torch.randint(0, 256, (4, 1, 5, 5), dtype=torch.uint8)
    rgb = convert_channels(gray, 3)
    assert rgb.shape == (4, 3, 5, 5) and torch.equal(rgb[:, 1:2], gray)
    assert torch.equal(convert_channels(rgb, 1), gray)


def test_pad_keeps_content_and_resize_keeps_constants():
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    padded = pad_uint8(images, 32)
    assert torch.equal(padded[:, :, 2:30, 2:30], images) and int(padded[:, :, 0].max()) == 0
    flat = torch.full((2, 3, 28, 28), 93, dtype=torch.uint8)
    for size in (7, 32, 64):
        resized = resize_uint8(flat, size)
        assert resized.shape == (2, 3, size, size) and bool((resized == 93).all())
