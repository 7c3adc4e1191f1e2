"""One-step denoising error at low noise: how much fine detail a diffusion network keeps.

At noise level σ (in data units, x = x₀ + σ·ε with x₀ in [-1, 1]: the σ of the samplers' grid)
the network's x̂₀ is what the family's own denoiser returns — the net sees c_in(σ)·x at
c_noise(σ), and its ε/v/x₀ (or flow velocity) output becomes x̂₀ through
``trigen.diffusion.precond``. At σ ≈ 0.05–0.2 the noise hides only fine detail, so the error
there measures how much of it the network reconstructs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from trigen.errors import ConfigError, DataError
from trigen.families.diffusion import DiffusionFamily
from trigen.rng import randn_like

LOW_NOISE_SIGMAS = (0.05, 0.1, 0.2)
"""Noise levels (data units) at which mostly fine detail is lost."""
DEFAULT_BATCH = 256


@torch.no_grad()
def denoising_mse(
    family: DiffusionFamily,
    images: Tensor,
    labels: Tensor,
    sigmas: Sequence[float] | Tensor = LOW_NOISE_SIGMAS,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> np.ndarray:
    """Mean squared error of x̂₀ per image and noise level: float64 (N, L), data units².

    ``images`` (N, C, H, W) in [-1, 1] and ``labels`` (N,) int64 (ignored by an unconditional
    family), on the net's device; ``sigmas`` (L,) noise levels inside the schedule's
    [σ_min, σ_max] (a training timestep t is ``schedule.sigmas[t]``). The noise, one draw per
    image and level from ``generator``, does not depend on ``batch_size``. x̂₀ is clipped as the
    samplers clip it (``family.clip_denoised``). The net is used as it is: pass an eval-mode one.
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    low, high = family.schedule.sigma_min, family.schedule.sigma_max
    if sigmas.numel() == 0 or not ((sigmas >= low) & (sigmas <= high)).all():
        raise ConfigError(
            f"noise levels must lie in the schedule's σ range [{low:.4g}, {high:.4g}], "
            f"got {sigmas.tolist()}"
        )
    if images.ndim != 4 or tuple(images.shape[1:]) != family.image_shape:
        raise DataError(f"images must be (N, *{family.image_shape}), got {tuple(images.shape)}")
    if labels.shape != images.shape[:1]:
        raise DataError(f"labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    if family.num_classes == 0:  # unconditional nets only ever saw the null class
        labels = torch.full_like(labels, family.null_class)

    errors = np.empty((images.shape[0], sigmas.numel()))
    for level, sigma in enumerate(sigmas.tolist()):
        noise = randn_like(images, generator)  # drawn whole: independent of batch_size
        for start in range(0, images.shape[0], batch_size):
            x0 = images[start : start + batch_size]
            y = labels[start : start + batch_size]
            noisy = x0 + sigma * noise[start : start + batch_size]
            # σ per item as the samplers pass it: at least float32, on the images' device
            dtype = torch.promote_types(x0.dtype, torch.float32)
            level_sigma = torch.full((x0.shape[0],), sigma, dtype=dtype, device=x0.device)
            x0_hat = family.denoiser(y)(noisy, level_sigma)
            squared = (x0_hat.double() - x0.double()) ** 2
            errors[start : start + x0.shape[0], level] = squared.flatten(1).mean(1).cpu().numpy()
    return errors
