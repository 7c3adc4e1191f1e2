"""A VQ-VAE tokenizer seen as a trainable family, so the one training loop trains it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.families.capabilities import FamilyDefaults


@dataclass
class TokenizerFamily(FamilyDefaults):
    """``loss`` is the VQ-VAE's own (reconstruction + commitment); ``sample`` reconstructs nothing
    from labels, so it refuses; ``nll`` is not defined for an autoencoder."""

    net: nn.Module
    num_classes: int
    image_shape: tuple[int, int, int]

    draws_samples: ClassVar[bool] = False

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        return self.net.loss(batch, generator)

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """Nothing: :meth:`sample` refuses."""
        return frozenset()

    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None
    ) -> Tensor:
        raise ConfigError(
            "a VQ-VAE tokenizer does not sample from labels; train a token model on it with "
            "`trigen train --family vq --set tokenizer=<this run>`"
        )

    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        raise ConfigError("a VQ-VAE tokenizer has no likelihood; evaluate the token model instead")
