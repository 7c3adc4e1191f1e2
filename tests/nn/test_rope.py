"""2-D RoPE: rotations keep norms, and a query·key product depends on relative position only."""

import pytest
import torch

from trigen.nn.rope import apply_rope, rope_2d_angles


def rotated(vec: torch.Tensor, row: int, col: int) -> torch.Tensor:
    angles = rope_2d_angles(vec.shape[-1], torch.tensor([row]), torch.tensor([col]))
    return apply_rope(vec[None], angles.cos(), angles.sin())[0]


def test_rotation_keeps_the_norm_and_is_identity_at_the_origin():
    x = torch.randn(5, 16)
    angles = rope_2d_angles(16, torch.arange(5), torch.arange(5) * 2)
    assert torch.allclose(apply_rope(x, angles.cos(), angles.sin()).norm(dim=-1), x.norm(dim=-1))
    assert torch.equal(rotated(x[0], 0, 0), x[0])


@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-1, 7)])
def test_dot_product_depends_on_the_offset_only(shift):
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 32, generator=gen)
    base = rotated(q, 4, 5) @ rotated(k, 3, 5)  # key one row above the query
    dr, dc = shift
    moved = rotated(q, 4 + dr, 5 + dc) @ rotated(k, 3 + dr, 5 + dc)
    assert torch.allclose(base, moved, atol=1e-5)
    # a different offset is a different product: rows and columns are told apart
    assert not torch.allclose(base, rotated(q, 4, 5) @ rotated(k, 4, 4), atol=1e-3)


def test_head_width_must_split_into_two_axes_of_pairs():
    with pytest.raises(ValueError, match="divisible by 4"):
        rope_2d_angles(6, torch.arange(2), torch.arange(2))
