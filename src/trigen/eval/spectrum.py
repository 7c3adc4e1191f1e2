"""Fine detail as spectral energy: how much of an image's power lies at high spatial frequencies.

Per image: the 2-D FFT power of each channel with its mean removed, summed over channels. The
radius of frequency (f_y, f_x) is measured in units of the Nyquist frequency (half a cycle per
pixel) on each axis, so ρ = sqrt((2·f_y)² + (2·f_x)²) with f in cycles per pixel; ρ = 1 is Nyquist
along an axis and the corners reach sqrt(2). White noise spreads its power evenly over the
frequency grid, so the fraction above ρ = c is the share of the square [-1, 1]² outside the
disc of radius c: 1 − π·c²/4 for c ≤ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from trigen.errors import ConfigError, DataError

DEFAULT_CUTOFF = 0.5
"""High frequencies start at half the Nyquist radius."""


def _as_array(images: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise DataError(f"images must be (N, C, H, W), got shape {images.shape}")
    return images


def nyquist_radius(height: int, width: int) -> np.ndarray:
    """ρ (H, W) of each 2-D FFT bin, in units of the Nyquist frequency per axis."""
    fy = np.fft.fftfreq(height)[:, None] * 2
    fx = np.fft.fftfreq(width)[None, :] * 2
    return np.hypot(fy, fx)


def high_frequency_energy(
    images: Tensor | np.ndarray, cutoff: float = DEFAULT_CUTOFF
) -> np.ndarray:
    """Fraction of each image's spectral energy above ``cutoff``·Nyquist: float64 (N,) in [0, 1].

    ``images`` (N, C, H, W) in any range (the mean is removed and the fraction has no scale). A
    constant image has no energy and counts as 0, no fine detail.
    """
    if not 0 <= cutoff <= np.sqrt(2):
        raise ConfigError(f"cutoff must be in [0, sqrt 2] (units of Nyquist), got {cutoff}")
    x = _as_array(images)
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    power = (np.abs(np.fft.fft2(x)) ** 2).sum(axis=1)  # (N, H, W)
    high = nyquist_radius(*x.shape[-2:]) > cutoff
    total = power.sum(axis=(-2, -1))
    above = power[:, high].sum(axis=-1)
    return np.divide(above, total, out=np.zeros_like(total), where=total > 0)


@dataclass(frozen=True)
class HFRatio:
    """Fine detail of samples relative to data, with per-image values for bootstrapping.

    ``samples`` (N,) and ``data`` (M,): each image's high-frequency fraction. ``per_image``
    (N,): samples / mean(data); its mean is :attr:`ratio`.
    """

    samples: np.ndarray
    data: np.ndarray
    per_image: np.ndarray

    @property
    def ratio(self) -> float:
        """Mean HF fraction of samples / of data: 1 same fine detail, < 1 blurrier."""
        return float(self.per_image.mean())


def hf_ratio(
    samples: Tensor | np.ndarray, data: Tensor | np.ndarray, cutoff: float = DEFAULT_CUTOFF
) -> HFRatio:
    """High-frequency energy of ``samples`` (N, C, H, W) relative to ``data`` (M, C, H, W)."""
    sample_hf = high_frequency_energy(samples, cutoff)
    data_hf = high_frequency_energy(data, cutoff)
    reference = data_hf.mean()
    if reference <= 0:
        raise DataError(f"the data have no energy above {cutoff}·Nyquist: the ratio is undefined")
    return HFRatio(sample_hf, data_hf, sample_hf / reference)
