"""The discretised logistic mixture likelihood of PixelCNN++ (Salimans et al. 2017, sec. 2.1-2.2).

Each pixel's C sub-pixels, discretised to 256 levels and stored as values ``k / 127.5 - 1`` in
[-1, 1], are modelled jointly by a mixture of M components. Within a component the channels are
autoregressive: channel c is logistic with mean ``mu_c + sum_{c' < c} coeff_{c,c'} * x_{c'}``, so
one network output per pixel (no channel masks) gives a normalised joint distribution.

Parameter layout along dim 1 of a (B, P, H, W) tensor, ``P = num_params(C, M)``:
``[M mixture logits | C*M means | C*M log-scales | C(C-1)/2*M coefficients]`` (channel-major).
Everything here is a pure function; log-probabilities are in nats.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from trigen.data.transforms import PIXEL_MAX, from_model_range, to_model_range

BIN_HALF_WIDTH = 1.0 / PIXEL_MAX
"""Half the spacing between two adjacent levels in [-1, 1] units (the spacing is 2/255)."""
MIN_LOG_SCALE = -7.0
"""Floor on a component's log-scale (as in PixelCNN++): keeps the density finite while training."""
EDGE = 0.999
"""Values below -EDGE are level 0 and above +EDGE level 255; those bins extend to -inf / +inf."""


class MixtureParams(NamedTuple):
    """A (B, P, H, W) parameter tensor split into its parts, with constraints applied."""

    logits: Tensor  # (B, M, H, W) unnormalised mixture weights
    means: Tensor  # (B, C, M, H, W)
    log_scales: Tensor  # (B, C, M, H, W), floored at MIN_LOG_SCALE
    coeffs: Tensor  # (B, C(C-1)/2, M, H, W) in (-1, 1): (1,0), (2,0), (2,1), ... in that order


def num_coeffs(channels: int) -> int:
    """Number of channel-coupling coefficients per component: one per pair c' < c."""
    return channels * (channels - 1) // 2


def num_params(channels: int, num_mixtures: int) -> int:
    """Values per pixel the network must output: 10·M for RGB, 3·M for grayscale."""
    return num_mixtures * (1 + 2 * channels + num_coeffs(channels))


def split_params(params: Tensor, channels: int) -> MixtureParams:
    """Split (B, P, H, W) raw network output into :class:`MixtureParams`."""
    P = params.shape[1]
    per_mixture = 1 + 2 * channels + num_coeffs(channels)
    if P % per_mixture:
        raise ValueError(f"{P} parameters per pixel do not fit {channels}-channel mixtures")
    M = P // per_mixture
    logits, means, log_scales, coeffs = params.split(
        [M, channels * M, channels * M, num_coeffs(channels) * M], dim=1
    )
    return MixtureParams(
        logits=logits,
        means=means.unflatten(1, (channels, M)),
        log_scales=log_scales.unflatten(1, (channels, M)).clamp(min=MIN_LOG_SCALE),
        coeffs=torch.tanh(coeffs.unflatten(1, (num_coeffs(channels), M))),
    )


def _coupled_mean(p: MixtureParams, x: Tensor, c: int) -> Tensor:
    """Mean (B, M, H, W) of channel c per component, given earlier channels of x (B, C, H, W)."""
    mean = p.means[:, c]
    first = c * (c - 1) // 2  # index of the pair (c, 0)
    for prev in range(c):
        mean = mean + p.coeffs[:, first + prev] * x[:, prev].unsqueeze(1)
    return mean


def _log_bin_prob(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(level of x) under a logistic(mean, exp(log_scale)) discretised to 256 bins.

    All arguments broadcast; x lies on the levels. Exact to rounding: the interior bin uses
    ``log(σ(a) - σ(b)) = log σ(a) + log σ(-b) + log(-expm1(b - a))``, which needs no fallback
    for tiny bins, so the 256 probabilities sum to 1.
    """
    inv_scale = torch.exp(-log_scale)
    centered = x - mean
    upper = (centered + BIN_HALF_WIDTH) * inv_scale  # a: standardised upper bin edge
    lower = (centered - BIN_HALF_WIDTH) * inv_scale  # b: standardised lower bin edge
    log_cdf_upper = F.logsigmoid(upper)  # log σ(a): the bin of level 0 is (-inf, a]
    log_sf_lower = F.logsigmoid(-lower)  # log(1 - σ(b)): the bin of level 255 is [b, inf)
    log_width = torch.log(-torch.expm1(-2 * BIN_HALF_WIDTH * inv_scale))  # b - a; x-free
    log_interior = log_cdf_upper + log_sf_lower + log_width
    return torch.where(x < -EDGE, log_cdf_upper, torch.where(x > EDGE, log_sf_lower, log_interior))


def log_prob(params: Tensor, x: Tensor) -> Tensor:
    """Joint log-probability in nats of each pixel's C sub-pixels.

    Args:
        params: (B, P, H, W) raw network output, ``P = num_params(C, M)``.
        x: (B, C, H, W) values on the 256 levels ``k / 127.5 - 1``.

    Returns:
        (B, H, W) log p(x[:, :, i, j]) in nats.
    """
    C = x.shape[1]
    p = split_params(params, C)
    log_probs = torch.zeros_like(p.logits)  # (B, M, H, W): Σ_c log p(x_c | component, x_<c)
    for c in range(C):
        mean = _coupled_mean(p, x, c)
        log_probs = log_probs + _log_bin_prob(x[:, c].unsqueeze(1), mean, p.log_scales[:, c])
    return torch.logsumexp(log_probs + F.log_softmax(p.logits, dim=1), dim=1)


def level_log_probs(params: Tensor, x: Tensor) -> Tensor:
    """log p(x_c = level | x_<c) in nats for all 256 levels of every channel c of every pixel.

    The mixture weights given x_<c are the posterior over components after seeing the earlier
    channels, so ``sum_c level_log_probs[x_c, c]`` equals :func:`log_prob` (the chain rule), and
    each channel's 256 values are normalised logits, fit for guidance and logit filters.

    Args:
        params: (B, P, ...) raw network output.
        x: (B, C, ...) values on the 256 levels; only channels < c matter for channel c.

    Returns:
        (B, 256, C, ...) normalised log-probabilities.
    """
    C = x.shape[1]
    p = split_params(params, C)
    spatial = (1,) * (x.dim() - 2)
    levels = to_model_range(torch.arange(PIXEL_MAX + 1, device=x.device), x.dtype)
    levels = levels.view(1, -1, 1, *spatial)  # (1, 256, 1, ...)
    log_weights = F.log_softmax(p.logits, dim=1)  # (B, M, ...): components given x_<c
    per_channel = []
    for c in range(C):
        mean, log_scale = _coupled_mean(p, x, c), p.log_scales[:, c]  # each (B, M, ...)
        log_bins = _log_bin_prob(levels, mean.unsqueeze(1), log_scale.unsqueeze(1))
        per_channel.append(torch.logsumexp(log_bins + log_weights.unsqueeze(1), dim=2))
        log_weights = log_weights + _log_bin_prob(x[:, c].unsqueeze(1), mean, log_scale)
        log_weights = log_weights - torch.logsumexp(log_weights, dim=1, keepdim=True)
    return torch.stack(per_channel, dim=2)


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """U(0, 1) draws in the open interval, taken from ``generator`` (on its own device)."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)
    tiny = torch.finfo(like.dtype).tiny
    return u.clamp(tiny, 1.0 - torch.finfo(like.dtype).eps)


def quantize(x: Tensor) -> Tensor:
    """Snap values (any shape) onto the nearest of the 256 levels in [-1, 1], keeping the dtype."""
    return to_model_range(from_model_range(x), x.dtype)


def sample(
    params: Tensor,
    channels: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Draw one value per sub-pixel from the mixture, channel after channel.

    Args:
        params: (B, P, H, W) raw network output.
        channels: C, the number of sub-pixels per pixel.
        generator: source of all randomness.
        temperature: > 0; divides the mixture logits and multiplies every component's scale.

    Returns:
        (B, C, H, W) values on the 256 levels in [-1, 1].
    """
    p = split_params(params, channels)
    B, M, H, W = p.logits.shape
    gumbel = -torch.log(-torch.log(_uniform((B, M, H, W), params, generator)))
    component = (p.logits / temperature + gumbel).argmax(dim=1, keepdim=True)  # (B, 1, H, W)

    def pick(t: Tensor) -> Tensor:  # (B, M, H, W) → (B, H, W) at the chosen component
        return t.gather(1, component).squeeze(1)

    x = params.new_zeros(B, channels, H, W)
    for c in range(channels):
        mean = pick(_coupled_mean(p, x, c).expand(B, M, H, W))
        scale = torch.exp(pick(p.log_scales[:, c])) * temperature
        u = _uniform((B, H, W), params, generator)
        x[:, c] = quantize(mean + scale * (torch.log(u) - torch.log1p(-u)))
    return x
