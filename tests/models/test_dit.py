"""Properties of the DiT network: shapes, official layout, adaLN-Zero init, conditioning, fit."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from trigen.errors import ConfigError
from trigen.models.dit import DIT_PRESETS, Conditioning, DiT, dit_config
from trigen.nn.embeddings import sincos_pos_embed_2d

from .backbone_inputs import denoising_losses, inputs, perturb_zero_init

TINY = {"hidden": 32, "depth": 2, "heads": 2}


def tiny_dit(size=16, channels=3, patch=4, num_classes=10, **kw) -> DiT:
    cfg = dit_config(
        f"DiT-T/{patch}",
        input_size=size,
        in_channels=channels,
        num_classes=num_classes,
        **{**TINY, **kw},
    )
    return DiT(cfg)


@pytest.mark.parametrize(
    ("size", "patch"), [(8, 2), (8, 4), (8, 8), (16, 2), (16, 8), (28, 2), (28, 4), (32, 8)]
)
@pytest.mark.parametrize("learn_sigma", [False, True])
def test_output_shape(size, patch, learn_sigma):
    net = tiny_dit(size, channels=3, patch=patch, learn_sigma=learn_sigma)
    out = net(*inputs(net))
    assert out.shape == (3, 6 if learn_sigma else 3, size, size)
    assert net.pos_embed.shape == (1, (size // patch) ** 2, TINY["hidden"])


def test_config_errors_say_what_to_do():
    with pytest.raises(ConfigError, match="not divisible by patch_size"):
        dit_config("DiT-T/8", input_size=28, in_channels=1, num_classes=10)
    with pytest.raises(ConfigError, match="DiT-XL/2"):  # lists the valid presets
        dit_config("DiT-XXL/2", input_size=32, in_channels=4, num_classes=10)
    with pytest.raises(ConfigError, match="cannot override DiT field"):
        dit_config("DiT-S/2", input_size=32, in_channels=4, num_classes=10, width=3)
    with pytest.raises(ConfigError, match="must be an integer"):
        dit_config("DiT-S/2", input_size=32, in_channels=4, num_classes=10, depth="12")
    with pytest.raises(ConfigError, match="in_context"):
        dit_config("DiT-S/2", input_size=32, in_channels=4, num_classes=10, conditioning="film")
    cfg = dit_config("DiT-S/2", input_size=32, in_channels=4, num_classes=10, conditioning="adaln")
    assert cfg.conditioning is Conditioning.ADALN


def test_paper_presets_and_parameter_counts():
    for name, (depth, hidden, heads) in {
        "S": (12, 384, 6),
        "B": (12, 768, 12),
        "L": (24, 1024, 16),
        "XL": (28, 1152, 16),
    }.items():
        for p in (2, 4, 8):
            assert DIT_PRESETS[f"DiT-{name}/{p}"] == {
                "depth": depth,
                "hidden": hidden,
                "heads": heads,
                "patch_size": p,
            }
    for name, millions in [("DiT-XL/2", 675), ("DiT-B/2", 130)]:
        cfg = dit_config(name, input_size=32, in_channels=4, num_classes=1000, learn_sigma=True)
        with torch.device("meta"):  # no memory, no time
            net = DiT(cfg)
        count = sum(p.numel() for p in net.parameters())
        assert abs(count / 1e6 - millions) / millions < 0.005, (name, count)


@pytest.mark.parametrize(("name", "gmacs"), [("DiT-XL/2", 118.6), ("DiT-B/2", 23.0)])
def test_paper_compute_per_forward(name, gmacs):
    cfg = dit_config(name, input_size=32, in_channels=4, num_classes=1000, learn_sigma=True)
    with torch.device("meta"):
        net = DiT(cfg)
        x, t, y = torch.randn(1, 4, 32, 32), torch.rand(1), torch.zeros(1, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        net(x, t, y)
    assert abs(counter.get_total_flops() / 2e9 - gmacs) / gmacs < 0.01  # paper's Table 4


def test_official_state_dict_layout():
    net = tiny_dit(depth=1)
    keys = set(net.state_dict())
    expected = {"pos_embed", "y_embedder.embedding_table.weight"}
    for module in [
        "x_embedder.proj",
        "t_embedder.mlp.0",
        "t_embedder.mlp.2",
        "blocks.0.attn.qkv",
        "blocks.0.attn.proj",
        "blocks.0.mlp.fc1",
        "blocks.0.mlp.fc2",
        "blocks.0.adaLN_modulation.1",
        "final_layer.linear",
        "final_layer.adaLN_modulation.1",
    ]:
        expected |= {f"{module}.weight", f"{module}.bias"}
    assert keys == expected  # LayerNorms carry no affine parameters
    D = TINY["hidden"]
    assert net.blocks[0].adaLN_modulation[1].weight.shape == (6 * D, D)
    assert net.y_embedder.embedding_table.weight.shape == (11, D)
    assert net.x_embedder.proj.kernel_size == net.x_embedder.proj.stride == (4, 4)


def test_pos_embed_is_fixed_sincos_and_saved():
    net = tiny_dit(size=28, patch=4)
    torch.testing.assert_close(net.pos_embed, sincos_pos_embed_2d(TINY["hidden"], 7, 7)[None])
    assert not net.pos_embed.requires_grad
    assert all(p is not net.pos_embed for p in net.parameters())
    assert "pos_embed" in net.state_dict()


def test_adaln_zero_starts_as_identity_with_zero_output():
    net = tiny_dit()
    x, t, y = inputs(net)
    tokens = torch.randn(3, 16, TINY["hidden"])
    c = torch.randn(3, TINY["hidden"])
    for block in net.blocks:
        assert torch.equal(block(tokens, c), tokens)
    out = net(x, t, y)
    assert torch.equal(out, torch.zeros_like(out))
    # at init only the output layer can learn: everything upstream sees a zero gradient
    (out - x).square().sum().backward()
    grads = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.any()}
    assert grads == {"final_layer.linear.weight", "final_layer.linear.bias"}


@pytest.mark.parametrize("conditioning", list(Conditioning))
def test_zero_init_holds_whatever_order_the_init_functions_run_in(conditioning):
    net = tiny_dit(conditioning=conditioning)
    zeroed = net.zero_initialised()
    assert zeroed and all(not m.weight.any() and not m.bias.any() for m in zeroed)
    for m in zeroed:  # as if a later init had drawn them...
        torch.nn.init.normal_(m.weight)
    net.initialize_weights()  # ...the DiT init zeroes them again without a Xavier draw between
    assert all(not m.weight.any() for m in zeroed)
    others = [m for m in net.modules() if isinstance(m, torch.nn.Linear) and m not in zeroed]
    assert others and all(m.weight.any() for m in others)


@pytest.mark.parametrize("conditioning", list(Conditioning))
def test_gradient_reaches_every_parameter_off_zero_init(conditioning):
    net = tiny_dit(conditioning=conditioning)
    perturb_zero_init(net)
    x, t, y = inputs(net)
    net(x, t, y).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert dead == []


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("conditioning", list(Conditioning))
def test_conditioning_variants_depend_on_t_and_y(conditioning, rope):
    net = tiny_dit(conditioning=conditioning, learn_sigma=True, rope=rope)
    perturb_zero_init(net)
    x, t, y = inputs(net)
    out = net(x, t, y)
    assert out.shape == (3, 6, 16, 16)
    other_y = net(x, t, (y + 1) % (net.cfg.num_classes + 1))
    other_t = net(x, t + 1.5, y)  # fractional timesteps are fine
    for b in range(3):  # every example responds to its own condition
        assert not torch.allclose(out[b], other_y[b])
        assert not torch.allclose(out[b], other_t[b])
    # changing one example's label leaves the others alone (no mixing across the batch)
    y2 = y.clone()
    y2[0] = 5
    torch.testing.assert_close(net(x, t, y2)[1:], out[1:])


def test_variant_structures():
    names = lambda net: {n for n, _ in net.named_parameters()}  # noqa: E731
    in_ctx = names(tiny_dit(conditioning="in_context"))
    assert not any("adaLN" in n for n in in_ctx)
    assert "blocks.0.norm1.weight" in in_ctx  # plain pre-norm blocks with affine LayerNorm
    cross = names(tiny_dit(conditioning="cross_attn"))
    assert {"blocks.0.cross_attn.q.weight", "blocks.0.cross_attn.kv.weight"} <= cross
    adaln = tiny_dit(conditioning="adaln")
    assert adaln.blocks[0].adaLN_modulation[1].out_features == 4 * TINY["hidden"]  # no gates


def test_unconditional_model_has_only_the_null_row():
    net = tiny_dit(num_classes=0)
    assert net.y_embedder.embedding_table.num_embeddings == 1
    x = torch.randn(2, 3, 16, 16)
    assert net(x, torch.rand(2) * 999, torch.zeros(2, dtype=torch.long)).shape == x.shape


def test_channels_last_input_gives_same_output():
    net = tiny_dit()
    perturb_zero_init(net)
    x, t, y = inputs(net)
    cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(net(cl, t, y), net(x, t, y))


def test_tiny_dit_overfits_a_fixed_batch():
    torch.manual_seed(0)
    net = tiny_dit(size=8, channels=1, patch=2, hidden=64, depth=2, heads=2)
    losses = denoising_losses(net, steps=100)
    assert losses[-1] < losses[0] / 10


def test_rope_tells_patches_apart_without_absolute_positions():
    # with the sin-cos table zeroed a plain DiT is blind to where a patch lies (swapping two
    # patches swaps their outputs); rotary positions alone make the position matter
    net = tiny_dit(size=16, channels=1, patch=4, rope=True)
    perturb_zero_init(net)
    net.pos_embed.zero_()
    x, t, y = inputs(net)
    out = net(x, t, y)
    plain = tiny_dit(size=16, channels=1, patch=4)
    plain.load_state_dict(net.state_dict())
    swapped = x.clone()  # exchange two patches: without rope nothing tells them apart
    swapped[..., :4, :4], swapped[..., 12:, 12:] = x[..., 12:, 12:], x[..., :4, :4]
    plain_out, plain_swapped = plain(x, t, y), plain(swapped, t, y)
    torch.testing.assert_close(plain_swapped[..., :4, :4], plain_out[..., 12:, 12:])
    rope_swapped = net(swapped, t, y)
    assert not torch.allclose(rope_swapped[..., :4, :4], out[..., 12:, 12:], atol=1e-4)


def test_rope_needs_head_width_divisible_by_four():
    with pytest.raises(ConfigError, match="rope"):
        tiny_dit(hidden=24, heads=4, rope=True)


def test_output_conv_starts_as_the_paper_and_reaches_across_patch_seams():
    plain, conv = tiny_dit(size=8, patch=4), tiny_dit(size=8, patch=4, output_conv=True)
    assert {n for n, _ in conv.named_parameters()} - {n for n, _ in plain.named_parameters()} == {
        "output_conv.weight",
        "output_conv.bias",
    }
    perturb_zero_init(plain)  # a trained-looking network (non-zero output layer)
    missing, unexpected = conv.load_state_dict(plain.state_dict(), strict=False)
    assert set(missing) == {"output_conv.weight", "output_conv.bias"} and not unexpected
    assert not conv.output_conv.weight.any() and not conv.output_conv.bias.any()
    x, t, y = inputs(conv)
    torch.testing.assert_close(conv(x, t, y), plain(x, t, y))  # a zero conv changes nothing
    # the final layer decodes each 4×4 patch on its own; the conv mixes across the seam at 4
    torch.nn.init.normal_(conv.output_conv.weight, std=0.1)
    one = torch.zeros(1, 4, 4 * 4 * 3, requires_grad=True)  # final-layer output: 2×2 tokens

    def decoded(tokens):
        out = conv.unpatchify(tokens)
        return out + conv.output_conv(out)

    (grad,) = torch.autograd.grad(decoded(one)[0, :, 3, 4].sum(), one)
    seen = grad.abs().sum(dim=-1)[0]  # per token: (0, 0) holds pixel (3, 3), (0, 1) holds (3, 4)
    assert seen[0] > 0 and seen[1] > 0  # pixel (3, 4) reads both sides of the seam
    (grad,) = torch.autograd.grad(conv.unpatchify(one)[0, :, 3, 4].sum(), one)
    assert grad.abs().sum(dim=-1)[0, 0] == 0  # without the conv it reads its own patch only
