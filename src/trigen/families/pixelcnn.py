"""PixelCNN family: exact likelihood training and pixel-by-pixel sampling of a gated PixelCNN.

The network (``trigen.models.pixelcnn.PixelCNN``) reads the whole image at once (teacher forcing)
and its masks make every output causal, so one forward gives the exact NLL of an image; sampling
needs one forward per sub-pixel in raster order (R → G → B within a pixel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from trigen.autoregressive import logistic_mixture
from trigen.autoregressive.filters import check_sampling
from trigen.autoregressive.generate import sample_token
from trigen.autoregressive.objectives import token_nll
from trigen.batch import NO_CONDITIONS, Batch
from trigen.data.transforms import from_model_range, to_model_range
from trigen.errors import ConfigError
from trigen.families.autoregressive import check_image_shape
from trigen.families.base import TOKEN_SAMPLING_OPTIONS, SampleSpec
from trigen.families.capabilities import (
    EXACT,
    CostProbe,
    FamilyDefaults,
    InputGradientProbe,
    Likelihood,
)
from trigen.families.labels import ConditionedImageFamily
from trigen.models.pixelcnn import PixelCNNConfig, PixelCNNOutput

PixelLogits = Callable[[Tensor, Tensor, Mapping[str, Tensor]], Tensor]
"""``fn(x (B, C, H, W), y (B,), conds) → (B, 256, C)``: the logits of every channel of one
pixel."""


@dataclass
class PixelCNNFamily(ConditionedImageFamily, FamilyDefaults):
    """A PixelCNN over images ``image_shape`` (C, H, W) with 256 levels per sub-pixel.

    ``loss`` and ``nll`` are the exact NLL in nats per image of the 8-bit images (sum over the
    C·H·W sub-pixels); ``loss`` replaces labels by the null class ``num_classes`` (and each
    named condition by its null) with probability ``label_dropout`` so that classifier-free
    guidance works at sampling time.
    """

    likelihood: ClassVar[Likelihood] = EXACT
    """``nll`` is the exact likelihood of the 8-bit images, so bits/dim is meaningful."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg = self.config
        built_for = (cfg.in_channels, cfg.input_size, cfg.input_size)
        if tuple(self.image_shape) != built_for or cfg.num_classes != self.num_classes:
            raise ConfigError(
                f"PixelCNN built for images {built_for} and {cfg.num_classes} classes cannot model "
                f"images {tuple(self.image_shape)} with {self.num_classes} classes; rebuild it"
            )
        if tuple(cfg.conditions) != self.conditions:
            names = [c.name for c in cfg.conditions] or "none"
            raise ConfigError(
                f"PixelCNN built for conditions {names} cannot model conditions "
                f"{[c.name for c in self.conditions] or 'none'}; rebuild it"
            )

    @property
    def config(self) -> PixelCNNConfig:
        config = getattr(self.net, "cfg", None)
        if not isinstance(config, PixelCNNConfig):
            raise ConfigError(f"PixelCNNFamily needs a PixelCNN network, got {type(self.net)}")
        return config

    def _levels(self, images: Tensor) -> Tensor:
        """int64 levels (B, C, H, W) in 0..255 of images in [-1, 1], checked against the shape."""
        check_image_shape(images, self.image_shape)
        return from_model_range(images).long()

    @property
    def _image_size(self) -> tuple[int, int]:
        return self.image_shape[1], self.image_shape[2]

    def _net(self, x: Tensor, labels: Tensor, conds: Mapping[str, Tensor]) -> Tensor:
        """The net's output; named conditions passed only when there are any."""
        return self.net(x, labels, *((conds,) if conds else ()))

    def _nll(
        self, images: Tensor, labels: Tensor, conds: Mapping[str, Tensor] = NO_CONDITIONS
    ) -> Tensor:
        """Exact NLL in nats (B,) of the 8-bit discretisation of images given labels and the
        named conditions."""
        levels = self._levels(images)
        x = to_model_range(levels, next(self.net.parameters()).dtype)  # what sampling feeds
        out = self._net(x, labels, conds)
        if self.config.output is PixelCNNOutput.SOFTMAX256:
            # (B, 256, C, H, W) → (B, C·H·W, 256): one token per sub-pixel
            return token_nll(out.flatten(2).transpose(1, 2), levels.flatten(1))
        log_p = logistic_mixture.log_prob(out.float(), x.float())  # (B, H, W)
        return -log_p.sum(dim=(1, 2))

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """NLL in nats per image (B,) with label and condition dropout (randomness from
        ``generator``)."""
        labels, conds = self.conditioning.train_inputs(batch, generator, self._image_size)
        return self._nll(batch.images, labels, conds)

    @torch.no_grad()
    def nll(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """Exact NLL in nats per image (B,) of the 8-bit images given their labels and
        ``batch.conds``."""
        labels = self.conditioning.check(batch.labels)
        conds = self.conditioning.named(batch.conds, labels, self._image_size)
        return self._nll(batch.images, labels, conds)

    def _pixel_logits(self, i: int, j: int) -> PixelLogits:
        """The logits of pixel (i, j) as a function of the image so far (and the conditions).

        The network reads only the rows that reach row i (``config.context_rows`` above it, and
        ``config.map_reach`` more on either side when it reads maps, cropped alike), which gives
        the same output as the full image. Softmax output: one forward per call, since channel
        c's logits read channels < c of the pixel. Mixture output: the network never reads the
        pixel itself, so its parameters are computed once per pixel and reused for every channel.
        """
        reach = self.config.map_reach
        top = max(0, i - self.config.context_rows - reach)
        rows = slice(top, i + 1 + reach)

        def window(x: Tensor, y: Tensor, conds: Mapping[str, Tensor]) -> Tensor:
            """The net's output at pixel (i, j): (B, 256, C) or (B, P)."""
            cropped = {k: v[:, :, rows] if v.ndim == 4 else v for k, v in conds.items()}
            return self._net(x[:, :, rows], y, cropped)[..., i - top, j]

        if self.config.output is PixelCNNOutput.SOFTMAX256:
            return window
        params: Tensor | None = None

        def mixture_logits(x: Tensor, y: Tensor, conds: Mapping[str, Tensor]) -> Tensor:
            nonlocal params
            if params is None:
                params = window(x, y, conds).float()  # (B, P)
            return logistic_mixture.level_log_probs(params, x[:, :, i, j].float())

        return mixture_logits

    def sample_options(self, spec: SampleSpec) -> frozenset[str]:
        """Guidance and the logits filters: one sub-pixel at a time, no steps to choose."""
        return TOKEN_SAMPLING_OPTIONS

    @torch.no_grad()
    def sample(
        self, labels: Tensor, spec: SampleSpec, generator: torch.Generator | None = None, *,
        conds: Mapping[str, Tensor] | None = None,
    ) -> Tensor:  # fmt: skip
        """Images (B, C, H, W) in [-1, 1] for ``labels`` and the named ``conds``, sub-pixel by
        sub-pixel in raster order.

        Uses ``spec.guidance_plan`` (guidance on the 256 logits, every branch in one batched
        forward), ``spec.temperature``, ``spec.top_k`` and ``spec.top_p``; all randomness comes
        from ``generator``. The logistic-mixture output is sampled through its exact 256-level
        logits.
        """
        check_sampling(spec.temperature, spec.top_k, spec.top_p)
        guidance = spec.guidance_plan
        labels, conds = self.conditioning.sampling_inputs(labels, conds, guidance, self._image_size)
        C, H, W = self.image_shape
        dtype = next(self.net.parameters()).dtype
        x = torch.zeros(labels.shape[0], C, H, W, device=labels.device, dtype=dtype)
        for i in range(H):
            for j in range(W):
                pixel = self._pixel_logits(i, j)
                logits_of = self.conditioning.guided(pixel, labels, conds, guidance)
                for c in range(C):
                    logits = logits_of(x)[:, :, c]  # (B, 256)
                    level = sample_token(
                        logits, generator, spec.temperature, spec.top_k, spec.top_p
                    )
                    x[:, c, i, j] = to_model_range(level, dtype)
        return x

    def nfe(self, spec: SampleSpec, image_shape: tuple[int, int, int] | None = None) -> int:
        """One full forward per sub-pixel of an image of ``image_shape`` (default its own)."""
        c, h, w = image_shape or self.image_shape
        return c * h * w

    def sampler_description(self, spec: SampleSpec) -> str:
        return "ancestral (full forward per sub-pixel)"

    def describe_network(self) -> str:
        c = self.config
        return f"{c.num_layers} layers × {c.channels} channels, kernel {c.kernel_size}"

    def forward_probe(self) -> Callable[[], object]:
        """The net on one zero image of class 0."""
        device = next(self.net.parameters()).device
        x = torch.zeros(1, *self.image_shape, device=device)
        y = torch.zeros(1, dtype=torch.long, device=device)
        return lambda: self.net(x, y)

    def sampling_step_probe(self, labels: Tensor) -> CostProbe:
        """One full forward on a noise image: sampling runs one per sub-pixel."""
        x = torch.randn(labels.shape[0], *self.image_shape, device=labels.device)
        return CostProbe(lambda: self.net(x, labels), x.nbytes)

    def receptive_field_probe(self, images: Tensor, labels: Tensor) -> InputGradientProbe:
        """The net's output over the images themselves (it never reads the pixel it predicts)."""
        return InputGradientProbe(lambda x: self.net(x, labels), images)
