"""Effective receptive fields: exact supports for a convolution and for causal functions."""

import numpy as np
import pytest
import torch
from torch import nn

from trigen.errors import DataError
from trigen.eval.receptive_field import ar_receptive_field, receptive_field
from trigen.models.ar_transformer import ARTransformer, ar_config


def test_a_3x3_convolution_sees_exactly_a_3x3_patch():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    field = receptive_field(conv, torch.randn(4, 2, 9, 9))
    support = np.argwhere(field > 0)
    assert field.shape == (9, 9) and field.max() == 1.0
    assert sorted(map(tuple, support)) == [(r, c) for r in (3, 4, 5) for c in (3, 4, 5)]


def test_stacked_convolutions_grow_the_field():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3, padding=1))
    field = receptive_field(net, torch.randn(2, 1, 11, 11), centre=(5, 5))
    assert (field > 0).sum() == 25  # two 3×3 layers: 5×5


def _strictly_causal(x: torch.Tensor) -> torch.Tensor:
    """Output at raster position p = tanh of the sum of inputs at positions < p."""
    flat = x.sum(dim=1).flatten(1)  # (B, H·W)
    past = torch.cumsum(flat, dim=1) - flat
    return torch.tanh(past).view(x.shape[0], 1, *x.shape[-2:])


def test_a_causal_function_has_a_zero_field_in_the_future():
    field = receptive_field(_strictly_causal, torch.randn(3, 2, 6, 6))
    order = np.arange(36).reshape(6, 6)
    centre = 3 * 6 + 3
    assert np.all(field[order >= centre] == 0)
    assert np.all(field[order < centre] > 0)


def test_a_function_off_the_input_grid_is_refused():
    with pytest.raises(DataError):
        receptive_field(lambda x: x[..., :-1, :], torch.randn(1, 1, 4, 4))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_autoregressive_field_is_the_causal_half_plane(channels):
    cfg = ar_config("ar-tiny", grid=(5, 5, channels), num_classes=3, width=32, depth=2, heads=2)
    net = ARTransformer(cfg).eval()
    tokens = torch.randint(0, 256, (2, cfg.seq_len))
    field = ar_receptive_field(net, tokens, torch.tensor([0, 3]))
    order = np.arange(25).reshape(5, 5)
    centre = 2 * 5 + 2
    assert field.shape == (5, 5) and field.max() == 1.0
    assert np.all(field[order > centre] == 0)
    assert np.all(field[order < centre] > 0)
    # the centre cell's own earlier channels are seen only when there are several
    assert (field[2, 2] > 0) == (channels > 1)
