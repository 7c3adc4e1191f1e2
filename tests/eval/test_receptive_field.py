"""Effective receptive fields: exact supports for a convolution and for causal functions."""

import numpy as np
import pytest
import torch
from torch import nn

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.errors import ConfigError, DataError
from trigen.eval.receptive_field import ar_receptive_field, erf_radius, receptive_field
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


PREFIX = (
    ConditionSpec("attributes", ConditionKind.VECTOR, 2),
    ConditionSpec("skeleton", ConditionKind.MAP, 1),
)


@pytest.mark.parametrize("channels,conditions", [(1, ()), (3, ()), (1, PREFIX)])
def test_the_autoregressive_field_is_the_causal_half_plane(channels, conditions):
    """Also behind a condition prefix, whose positions have no place on the grid."""
    cfg = ar_config(
        "ar-tiny", grid=(5, 5, channels), num_classes=3, width=32, depth=2, heads=2,
        conditions=conditions, map_patch=5,
    )  # fmt: skip
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


def test_erf_radius_of_a_delta_is_zero():
    field = np.zeros((9, 9))
    field[4, 4] = 1.0
    assert erf_radius(field) == 0.0
    assert erf_radius(field, mass=1.0) == 0.0


def _disc_in_square_area(r: float, a: float) -> float:
    """Area of a disc of radius r ≤ a·sqrt(2) inside the centred square of half-side a."""
    if r <= a:
        return np.pi * r**2
    segment = r**2 * np.arccos(a / r) - a * np.sqrt(r**2 - a**2)  # beyond one side
    return np.pi * r**2 - 4 * segment


@pytest.mark.parametrize("mass", [0.5, 0.9])
def test_erf_radius_of_a_uniform_map_is_the_disc_holding_that_share_of_the_area(mass):
    side = 101
    half = side / 2  # pixel cells of unit area around the centre pixel
    low, high = 0.0, half * np.sqrt(2)
    for _ in range(60):  # bisection for the radius whose disc covers `mass` of the square
        mid = (low + high) / 2
        low, high = (mid, high) if _disc_in_square_area(mid, half) < mass * side**2 else (low, mid)
    assert erf_radius(np.ones((side, side)), mass) == pytest.approx(low, abs=1.0)
    if mass == 0.5:  # the disc fits inside the square: the closed form
        assert low == pytest.approx(np.sqrt(mass * side**2 / np.pi))


@pytest.mark.parametrize("std", [3.0, 6.0])
def test_erf_radius_of_a_gaussian_is_std_times_sqrt_2_ln_10(std):
    rows, cols = np.indices((81, 81)) - 40
    field = np.exp(-(rows**2 + cols**2) / (2 * std**2))
    assert erf_radius(field) == pytest.approx(std * np.sqrt(2 * np.log(10)), abs=0.5)


def test_erf_radius_uses_the_given_centre_and_grows_with_mass():
    field = np.zeros((9, 9))
    field[1, 1] = field[1, 4] = 1.0
    assert erf_radius(field, mass=0.5, centre=(1, 1)) == 0.0
    assert erf_radius(field, mass=1.0, centre=(1, 1)) == 3.0
    conv = receptive_field(nn.Conv2d(1, 1, 3, padding=1), torch.randn(2, 1, 9, 9))
    assert erf_radius(conv, mass=1.0) == pytest.approx(np.sqrt(2))


@pytest.mark.parametrize(
    ("field", "mass", "error"),
    [
        (np.zeros((5, 5)), 0.9, DataError),
        (-np.ones((5, 5)), 0.9, DataError),
        (np.ones(5), 0.9, DataError),
        (np.ones((5, 5)), 0.0, ConfigError),
        (np.ones((5, 5)), 1.5, ConfigError),
    ],
)
def test_erf_radius_refuses_bad_maps_and_masses(field, mass, error):
    with pytest.raises(error):
        erf_radius(field, mass)
