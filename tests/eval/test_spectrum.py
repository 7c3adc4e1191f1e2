"""High-frequency energy: white noise matches the area formula; blurring removes fine detail."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trigen.errors import ConfigError, DataError
from trigen.eval.spectrum import hf_ratio, high_frequency_energy


def _blur(images: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 256).expand(images.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(images, (2,) * 4, mode="circular"), kernel, groups=images.shape[1])


@pytest.mark.parametrize("cutoff", [0.25, 0.5, 0.9])
def test_white_noise_has_the_area_share_above_the_cutoff(cutoff):
    noise = torch.randn(16, 2, 64, 64)
    fraction = high_frequency_energy(noise, cutoff)
    assert fraction.shape == (16,)
    assert fraction.mean() == pytest.approx(1 - np.pi * cutoff**2 / 4, abs=0.02)


def test_blurring_lowers_the_fraction_of_every_image():
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    assert np.all(high_frequency_energy(_blur(images)) < high_frequency_energy(images))


def test_the_fraction_ignores_offset_and_scale_and_a_constant_image_has_none():
    images = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    assert high_frequency_energy(3 * images + 5) == pytest.approx(high_frequency_energy(images))
    assert np.all(high_frequency_energy(torch.full((2, 1, 8, 8), 0.3)) == 0)
    assert np.all((high_frequency_energy(images) >= 0) & (high_frequency_energy(images) <= 1))


def test_a_smooth_wave_has_none_and_a_checkerboard_all_above_half_nyquist():
    rows, cols = np.indices((32, 32))
    wave = np.cos(2 * np.pi * cols / 32)[None, None]
    checker = ((rows + cols) % 2).astype(float)[None, None]
    assert high_frequency_energy(wave)[0] == pytest.approx(0, abs=1e-12)
    assert high_frequency_energy(checker)[0] == pytest.approx(1)


def test_ratio_of_a_set_to_itself_is_one_and_blur_lowers_it():
    data = torch.rand(20, 1, 32, 32) * 2 - 1
    same = hf_ratio(data, data)
    assert same.ratio == pytest.approx(1.0)
    assert same.per_image.shape == (20,) and same.per_image.mean() == pytest.approx(same.ratio)
    blurred = hf_ratio(_blur(data), data)
    assert blurred.ratio < 0.5 and blurred.samples.shape == blurred.data.shape == (20,)


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError):
        high_frequency_energy(torch.zeros(1, 1, 4, 4), cutoff=2.0)
    with pytest.raises(DataError):
        high_frequency_energy(torch.zeros(4, 4))
    with pytest.raises(DataError, match="undefined"):
        hf_ratio(torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
