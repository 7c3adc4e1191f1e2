"""Latent caches: encoded once, reused while the key matches, rebuilt otherwise."""

from dataclasses import dataclass

import pytest
import torch

from trigen.data.datasets import ImageDataset
from trigen.data.latents import (
    cache_path,
    latent_dataset,
    read_latent_cache,
    save_latent_cache,
)
from trigen.data.loader import BatchLoader
from trigen.errors import DataError


@dataclass
class CountingCodec:
    """Average-pools by 2 and counts encoder calls."""

    fingerprint: str = "codec-a"
    scale_factor: float = 2.0
    in_channels: int = 1
    downsample: int = 2
    calls: int = 0

    def encode(self, images, *, sample=False, generator=None):
        self.calls += 1
        return torch.nn.functional.avg_pool2d(images, 2) * self.scale_factor

    def decode(self, latents):
        return torch.nn.functional.interpolate(latents / self.scale_factor, scale_factor=2)

    def latent_shape(self, image_shape):
        c, h, w = image_shape
        return c, h // 2, w // 2


def dataset(n: int = 12) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % 3, 3, ["a", "b", "c"], "folder")


KEY = {"dataset": "folder", "data_root": None, "split": "train", "resolution": None}


def test_second_call_reuses_the_cache(tmp_path):
    codec, data = CountingCodec(), dataset()
    first = latent_dataset(codec, data, KEY, tmp_path, "cpu")
    calls = codec.calls
    assert calls > 0 and first.images.shape == (12, 1, 4, 4)
    again = latent_dataset(codec, data, KEY, tmp_path, "cpu")
    assert codec.calls == calls  # nothing encoded the second time
    torch.testing.assert_close(again.images, first.images)
    assert torch.equal(again.labels, data.labels)
    expected = torch.nn.functional.avg_pool2d(data.images.float() / 127.5 - 1, 2) * 2
    torch.testing.assert_close(first.images, expected)


@pytest.mark.parametrize(
    "change",
    [{"fingerprint": "codec-b"}, {"scale_factor": 3.0}, {"key": {**KEY, "resolution": 8}}],
)
def test_a_changed_key_re_encodes(tmp_path, change):
    codec, data = CountingCodec(), dataset()
    latent_dataset(codec, data, KEY, tmp_path, "cpu")
    key = change.pop("key", KEY)
    other = CountingCodec(**change)
    latent_dataset(other, data, key, tmp_path, "cpu")
    assert other.calls > 0


@pytest.mark.parametrize("damage", ["tensors", "header"])
def test_a_corrupt_cache_is_reported_and_rebuilt(tmp_path, damage):
    codec, data = CountingCodec(), dataset()
    first = latent_dataset(codec, data, KEY, tmp_path, "cpu")
    (path,) = tmp_path.glob("*.safetensors")
    victim = path if damage == "tensors" else path.with_suffix(".json")
    victim.write_bytes(victim.read_bytes()[:20])
    notes = []
    rebuilt = latent_dataset(codec, data, KEY, tmp_path, "cpu", on_note=notes.append)
    assert len(notes) == 1 and "rebuilding" in notes[0] and "\n" not in notes[0]
    torch.testing.assert_close(rebuilt.images, first.images)
    assert read_latent_cache(path, read_key(path)) is not None  # rewritten whole


def read_key(path):
    import json

    return json.loads(path.with_suffix(".json").read_text())["key"]


def test_reading_a_corrupt_cache_is_a_data_error(tmp_path):
    path = cache_path(tmp_path, KEY)
    save_latent_cache(path, torch.zeros(4, 2, 2, 2), torch.zeros(4, dtype=torch.long), KEY)
    path.write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="corrupt"):
        read_latent_cache(path, KEY)
    assert read_latent_cache(tmp_path / "absent.safetensors", KEY) is None


def test_the_loader_yields_cached_latents_unchanged(tmp_path):
    latents = latent_dataset(CountingCodec(), dataset(), KEY, tmp_path, "cpu")
    batch = next(BatchLoader(latents, 4, seed=0))
    assert batch.images.dtype == torch.float32
    assert any(torch.equal(batch.images[0], z) for z in latents.images)
