"""Effective receptive fields: how strongly the output at the image centre depends on each pixel.

The map is |∂ output(centre) / ∂ input| (Luo et al. 2016), summed over channels, averaged over a
batch and normalised to a maximum of 1. It makes each family's attention range visible: a 3×3
patch growing through a U-Net's levels, the whole image from DiT's first block, the causal
half-plane of an autoregressive model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from trigen.errors import ConfigError, DataError


def _normalised(grid: Tensor) -> np.ndarray:
    """(H, W) tensor → float64 numpy scaled to max 1 (all zeros stay zeros)."""
    grid = grid.detach().double().cpu()
    top = grid.max()
    return (grid / top if top > 0 else grid).numpy()


def receptive_field(
    fn: Callable[[Tensor], Tensor], x: Tensor, centre: tuple[int, int] | None = None
) -> np.ndarray:
    """Effective receptive field (H, W) of the output of ``fn`` at ``centre`` (default the middle).

    ``x`` (B, C, H, W) is a batch of inputs; ``fn(x)`` must return (B, …, H, W) on the same grid
    (a diffusion backbone at a fixed t and y: ``lambda x: net(x, t, y)``; a PixelCNN's logits).
    All output values at the centre pixel are summed before differentiating.
    """
    if x.ndim != 4:
        raise DataError(f"receptive_field needs inputs (B, C, H, W), got {tuple(x.shape)}")
    height, width = x.shape[-2:]
    row, col = centre if centre is not None else (height // 2, width // 2)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        if y.shape[0] != x.shape[0] or y.shape[-2:] != x.shape[-2:]:
            raise DataError(f"fn maps {tuple(x.shape)} to {tuple(y.shape)}, not onto the same grid")
        # samples are independent, so the gradient of the batch sum is each sample's own gradient
        (grad,) = torch.autograd.grad(y[..., row, col].sum(), x)
    return _normalised(grad.abs().sum(dim=1).mean(dim=0))  # (H, W)


def ar_receptive_field(net: torch.nn.Module, tokens: Tensor, labels: Tensor) -> np.ndarray:
    """Effective receptive field (h, w) of an autoregressive transformer at the centre token cell.

    ``net`` is a ``trigen.models.ar_transformer.ARTransformer`` (its ``embed``/``logits`` split and
    ``cfg.grid`` = (h, w, channels)); ``tokens`` (B, L) int64 are whole images' token sequences
    (pixels: ``images_to_tokens``), ``labels`` (B,) int64. Tokens are discrete, so the gradient is
    taken w.r.t. the embedded input vectors instead: of the log-probability the model gives the
    observed tokens of the centre cell (all its channels), mapped back from stream positions to the
    token grid (|∂| summed over the width). Stream position s ≥ 1 holds data token s − 1; the class
    token at s = 0 has no place on the grid and is left out, as are the condition prefix's
    positions before it (their conditions null).
    """
    height, width, channels = net.cfg.grid
    if tokens.ndim != 2 or tokens.shape[1] != height * width * channels:
        raise DataError(f"expected tokens (B, {height * width * channels}), got {tokens.shape}")
    cell = (height // 2) * width + width // 2
    targets = range(cell * channels, (cell + 1) * channels)  # the centre cell's data tokens
    with torch.enable_grad():
        x = net.embed(tokens[:, :-1], labels).detach().requires_grad_(True)  # (B, L, D)
        logp = F.log_softmax(
            net.logits(x, None, labels), dim=-1
        )  # (B, L, V); position p predicts token p
        picked = torch.stack([logp[:, p].gather(1, tokens[:, p, None]) for p in targets])
        (grad,) = torch.autograd.grad(picked.sum(), x)
    first = 1 + getattr(net.cfg, "prefix_len", 0)  # after a condition prefix and the class
    per_token = grad.abs().sum(dim=-1).mean(dim=0)[first:]  # (L − 1,) data tokens 0 … L − 2
    per_token = torch.cat([per_token, per_token.new_zeros(1)])  # the last token is never read
    return _normalised(per_token.view(height, width, channels).sum(dim=-1))


def erf_radius(
    field: np.ndarray, mass: float = 0.9, centre: tuple[int, int] | None = None
) -> float:
    """Radius in pixels of the smallest disc around ``centre`` holding ``mass`` of ``field``.

    ``field`` (H, W) is a non-negative map such as :func:`receptive_field` returns; ``centre``
    (row, col) defaults to the middle pixel, as there. Each pixel counts at its Euclidean distance
    from the centre pixel, so the radius is one of those distances: 0 when the centre pixel alone
    holds ``mass``. Unlike the extent of the support, it ignores the faint tails a deep net spreads
    over the whole image (a Gaussian field of std s gives about s·sqrt(2 ln 10) at mass 0.9).
    """
    field = np.asarray(field, dtype=np.float64)
    if field.ndim != 2 or (field < 0).any() or not np.isfinite(field).all():
        raise DataError(f"erf_radius needs a finite non-negative (H, W) map, got {field.shape}")
    if not 0 < mass <= 1:
        raise ConfigError(f"mass must be in (0, 1], got {mass}")
    total = field.sum()
    if total <= 0:
        raise DataError("the map is all zeros: the output does not depend on the input")
    height, width = field.shape
    row, col = centre if centre is not None else (height // 2, width // 2)
    rows, cols = np.indices(field.shape)
    distance = np.hypot(rows - row, cols - col).ravel()
    order = np.argsort(distance, kind="stable")
    enclosed = np.cumsum(field.ravel()[order])
    # a relative tolerance keeps mass 1 reachable despite rounding in the running sum
    first = np.searchsorted(enclosed, mass * total * (1 - 1e-12))
    return float(distance[order][min(first, distance.size - 1)])
