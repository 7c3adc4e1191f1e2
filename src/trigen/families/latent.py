"""Latent diffusion (Rombach et al. 2022): a diffusion family run in an autoencoder's latents."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.diffusion.samplers import StepCallback
from trigen.errors import ConfigError, DataError
from trigen.families.base import SampleSpec
from trigen.families.capabilities import FamilyDefaults
from trigen.families.diffusion import DiffusionFamily
from trigen.tokenizers.autoencoder import LatentCodec


@dataclass
class LatentDiffusionFamily(FamilyDefaults):
    """``diffusion`` denoises scaled latents (its ``image_shape`` is the latent shape); ``codec``
    maps pixels ↔ latents; ``image_shape`` is the pixel (C, H, W) that ``sample`` returns.

    ``net`` is the diffusion backbone and the source of truth: ``dataclasses.replace(fam,
    net=ema)`` re-points ``diffusion`` at it, so EMA swapping and DDP wrapping work as for any
    family. ``loss`` takes a batch of latents (the latent cache the trainer feeds) or of pixel
    images, which it encodes first with the posterior mean.
    """

    net: nn.Module
    diffusion: DiffusionFamily
    codec: LatentCodec
    num_classes: int
    image_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(d) for d in self.image_shape)
        latent = self.codec.latent_shape(self.image_shape)
        if tuple(self.diffusion.image_shape) != latent:
            raise ConfigError(
                f"the diffusion model works on {self.diffusion.image_shape} but the autoencoder "
                f"makes latents {latent} of {self.image_shape} images"
            )
        if self.diffusion.net is not self.net:
            self.diffusion = dataclasses.replace(self.diffusion, net=self.net)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.diffusion.image_shape)

    def to_latents(self, images: Tensor) -> Tensor:
        """Latents (B, c, h, w) of ``images``: passed through if they already are latents."""
        shape = tuple(images.shape[1:])
        if shape == self.latent_shape:
            return images
        if shape == self.image_shape:
            return self.codec.encode(images)
        raise DataError(
            f"expected latents {self.latent_shape} or images {self.image_shape}, got {shape}"
        )

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Per-example denoising loss (B,) in latent space."""
        return self.diffusion.loss(Batch(self.to_latents(batch.images), batch.labels), generator)

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """Those of the latent diffusion family, which does the sampling."""
        return self.diffusion.sample_options(spec)

    @torch.no_grad()
    def sample(
        self,
        labels: Tensor,
        spec: SampleSpec,
        generator: torch.Generator | None = None,
        *,
        callback: StepCallback | None = None,
    ) -> Tensor:
        """Images (B, C, H, W) in [-1, 1]: latents sampled by ``diffusion`` (its objective and
        preconditioner; ``callback`` sees each step's latents), then decoded."""
        latents = self.diffusion.sample(labels, spec, generator, callback=callback)  # (B, c, h, w)
        return self.codec.decode(latents)

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """The latent sampler's (:meth:`DiffusionFamily.nfe`); the decoder's one pass aside."""
        return self.diffusion.nfe(spec)

    def sampling_steps(self, spec: SampleSpec) -> int:
        return self.diffusion.sampling_steps(spec)

    def sampler_description(self, spec: SampleSpec) -> str:
        return self.diffusion.sampler_description(spec)

    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        # The latent ELBO bounds −log p(z), not −log p(x): the decoder is deterministic here and
        # its reconstruction error is not a density, so no pixel bits/dim can be reported.
        raise ConfigError(
            "latent diffusion has no pixel likelihood (the latent ELBO is not comparable to "
            "bits/dim); compare latent models by FID instead"
        )
