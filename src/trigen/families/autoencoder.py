"""The KL autoencoder seen as a trainable family, so the one training loop trains it too."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.errors import ConfigError, DataError
from trigen.families.base import SampleSpec
from trigen.families.capabilities import FamilyDefaults
from trigen.tokenizers.autoencoder import KLAutoencoderConfig, autoencoder_loss


@dataclass
class AutoencoderFamily(FamilyDefaults):
    """``loss`` is the autoencoder's own (L1 reconstruction + β·KL).

    ``config`` is the network's (kept here: ``net`` may be a data-parallel wrapper).
    ``sample`` decodes random latents z ~ N(0, I) / ``scale_factor``: latents with the spread of
    the training data's, decoded, ignoring ``labels``. The autoencoder has no prior of its own, so
    these show what the decoder makes of the latent space, not samples of the data; the
    generators trained in this latent space are what sample images. ``scale_factor`` is set when
    the family is loaded from a checkpoint (it is computed after training). ``nll`` is undefined.
    """

    net: nn.Module
    config: KLAutoencoderConfig
    num_classes: int
    image_shape: tuple[int, int, int]
    scale_factor: float | None = None

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        # through net's forward, so a data-parallel wrapper of it trains too
        return autoencoder_loss(self.net, self.config, batch.images, generator)

    @torch.no_grad()
    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """Nothing: random latents, decoded, whatever ``spec`` says."""
        return frozenset()

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None
    ) -> Tensor:
        if self.scale_factor is None:
            raise ConfigError(
                "this autoencoder has no latent scale factor yet; load it from a checkpoint "
                "(trigen.api.load) to decode random latents"
            )
        if labels.ndim != 1:
            raise DataError(f"labels must be (B,), got {tuple(labels.shape)}")
        _, h, w = self.image_shape
        d = self.config.downsample
        shape = (labels.shape[0], self.config.latent_channels, h // d, w // d)
        z = torch.randn(shape, generator=generator, device=labels.device)
        return self.net.decoder(z / self.scale_factor).clamp(-1, 1)

    def sampler_description(self, spec: SampleSpec) -> str:
        return "random latents, decoded"

    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        raise ConfigError(
            "a KL autoencoder has no likelihood here; train U-Net or DiT in its latent space "
            "(--set autoencoder=<this run>) and evaluate their samples instead"
        )
