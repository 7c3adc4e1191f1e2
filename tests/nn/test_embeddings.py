"""Properties of the conditioning embeddings and the scale-shift helpers."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.nn.embeddings import (
    LabelEmbedder,
    TimestepEmbedder,
    sincos_pos_embed_2d,
    timestep_embedding,
)
from trigen.nn.modulation import adaln_modulation, film, gate, modulate


def test_timestep_embedding_is_cos_then_sin():
    t = torch.tensor([0.0, 1.0, 2.5])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (3, 8)
    assert torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))  # t = 0: cos 1, sin 0
    # the first frequency is 1, so columns 0 and half are cos(t) and sin(t)
    torch.testing.assert_close(emb[:, 0], torch.cos(t))
    torch.testing.assert_close(emb[:, 4], torch.sin(t))


@settings(max_examples=25, deadline=None)
@given(
    t=st.floats(0.0, 999.99, allow_nan=False),
    dim=st.integers(2, 64),
    max_period=st.sampled_from([100.0, 10_000.0]),
)
def test_timestep_embedding_geometric_frequencies(t, dim, max_period):
    emb = timestep_embedding(torch.tensor([t]), dim, max_period)[0].double()
    half = dim // 2
    freqs = max_period ** (-torch.arange(half, dtype=torch.float64) / half)
    # each (cos, sin) pair lies on the unit circle at angle t·f_i
    radius = emb[:half] ** 2 + emb[half : 2 * half] ** 2
    torch.testing.assert_close(radius, torch.ones(half, dtype=torch.float64))
    angles = torch.atan2(emb[half : 2 * half], emb[:half])
    expected = torch.remainder(t * freqs + math.pi, 2 * math.pi) - math.pi
    diff = torch.remainder(angles - expected + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-3  # float32 angles, t < 1000
    if dim % 2:
        assert emb[-1] == 0  # odd width: one zero pad column


def test_timestep_embedding_fractional_and_distinct():
    t = torch.tensor([10.0, 10.001, 10.5, 11.0])
    emb = timestep_embedding(t, 256)
    assert (emb[1] - emb[0]).abs().max() < 1e-2  # continuous in t
    dists = torch.cdist(emb, emb) + torch.eye(4)
    assert dists.min() > 0  # distinct timesteps, distinct features
    assert timestep_embedding(t.double(), 16).dtype == torch.float32


def test_timestep_embedder_names_and_dtypes():
    emb = TimestepEmbedder(32, freq_dim=16)
    assert set(dict(emb.named_parameters())) == {
        "mlp.0.weight",
        "mlp.0.bias",
        "mlp.2.weight",
        "mlp.2.bias",
    }
    t = torch.tensor([0.0, 500.5])
    assert emb(t).shape == (2, 32)
    assert emb.to(torch.bfloat16)(t).dtype == torch.bfloat16  # casts its features to the weights


@pytest.mark.parametrize("num_classes", [0, 1, 10])
def test_label_embedder_has_null_row(num_classes):
    emb = LabelEmbedder(num_classes, 8)
    assert emb.embedding_table.weight.shape == (num_classes + 1, 8)
    assert emb.null_class == num_classes
    y = torch.tensor([num_classes, 0])
    torch.testing.assert_close(emb(y)[0], emb.embedding_table.weight[-1])
    with pytest.raises(IndexError):
        emb(torch.tensor([num_classes + 1]))
    with pytest.raises(ValueError):
        LabelEmbedder(-1, 8)


def test_sincos_2d_first_half_is_column_second_half_is_row():
    H, W, D = 3, 5, 16
    emb = sincos_pos_embed_2d(D, H, W)
    assert emb.shape == (H * W, D) and emb.dtype == torch.float32
    grid = emb.view(H, W, D)  # tokens in row-major order
    x_part, y_part = grid[..., : D // 2], grid[..., D // 2 :]
    assert torch.equal(x_part, x_part[:1].expand_as(x_part))  # same for every row
    assert torch.equal(y_part, y_part[:, :1].expand_as(y_part))  # same for every column
    # origin: sin parts 0, cos parts 1, in [sin, cos] order per half
    assert torch.equal(emb[0], torch.tensor(([0.0] * 4 + [1.0] * 4) * 2))
    q = D // 4  # each sin column and its cos partner lie on the unit circle
    for part in (x_part, y_part):
        torch.testing.assert_close(part[..., :q] ** 2 + part[..., q:] ** 2, torch.ones(H, W, q))
    assert torch.cdist(emb, emb).add(torch.eye(H * W)).min() > 0  # all positions distinct
    # the first frequency is 1: column 0 is sin(x index), column D/2 is sin(y index)
    torch.testing.assert_close(grid[0, :, 0], torch.sin(torch.arange(W).float()))
    torch.testing.assert_close(grid[:, 0, D // 2], torch.sin(torch.arange(H).float()))


def test_sincos_2d_rejects_width_not_multiple_of_4():
    with pytest.raises(ValueError):
        sincos_pos_embed_2d(6, 2, 2)


def test_modulate_is_identity_at_zero_and_broadcasts_over_tokens():
    x = torch.randn(2, 5, 4)
    zero = torch.zeros(2, 4)
    assert torch.equal(modulate(x, zero, zero), x)
    shift, scale = torch.randn(2, 4), torch.randn(2, 4)
    out = modulate(x, shift, scale)
    for b in range(2):
        for i in range(5):  # every token of example b gets the same scale and shift
            torch.testing.assert_close(out[b, i], x[b, i] * (1 + scale[b]) + shift[b])
    assert torch.equal(gate(x, zero), torch.zeros_like(x))
    torch.testing.assert_close(gate(x, torch.ones(2, 4)), x)


def test_film_on_maps_matches_tokens_and_any_memory_format():
    h = torch.randn(2, 4, 3, 3)
    shift, scale = torch.randn(2, 4), torch.randn(2, 4)
    out = film(h, shift, scale)
    tokens = modulate(h.flatten(2).transpose(1, 2), shift, scale)  # (B, HW, C)
    torch.testing.assert_close(out, tokens.transpose(1, 2).view(2, 4, 3, 3))
    cl = film(h.contiguous(memory_format=torch.channels_last), shift, scale)
    torch.testing.assert_close(cl, out)


def test_adaln_modulation_layout_and_zero_init():
    mod = adaln_modulation(8, 6)
    assert isinstance(mod[0], torch.nn.SiLU) and mod[1].weight.shape == (48, 8)
    assert torch.equal(mod(torch.randn(3, 8)), torch.zeros(3, 48))
    assert adaln_modulation(8, 2, zero_init=False)[1].weight.any()
