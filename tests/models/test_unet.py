"""Properties of the ADM-style U-Net: shapes, sizes, conditioning, skips, attention, fitting."""

import pytest
import torch

from trigen.errors import ConfigError
from trigen.models.unet import AttentionBlock, UNet, unet_config

from .backbone_inputs import denoising_losses, inputs, perturb_zero_init

TINY = {
    "model_channels": 8,
    "channel_mult": (1, 2),
    "num_res_blocks": 1,
    "num_groups": 4,
    "head_channels": 8,
}


def tiny_unet(size=16, channels=3, num_classes=10, **kw) -> UNet:
    cfg = unet_config(
        "unet-tiny",
        input_size=size,
        in_channels=channels,
        num_classes=num_classes,
        **{**TINY, **kw},
    )
    return UNet(cfg)


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("learn_sigma", [False, True])
def test_output_shape(size, learn_sigma):
    net = tiny_unet(size, channel_mult=(1, 2, 2), learn_sigma=learn_sigma)
    out = net(*inputs(net))
    assert out.shape == (3, 6 if learn_sigma else 3, size, size)


def test_odd_sizes_go_down_and_back_up():
    cfg = unet_config("unet-tiny", input_size=28, in_channels=1, num_classes=10)
    assert cfg.level_sizes == (28, 14, 7)
    assert cfg.attention_resolutions == (7,)  # the preset's level 2, as a size
    net = tiny_unet(28, channels=1, channel_mult=(1, 1, 1, 1), out_channels=2)
    assert net.cfg.level_sizes == (28, 14, 7, 4)
    assert net(*inputs(net)).shape == (3, 2, 28, 28)


def test_config_errors_say_what_to_do():
    with pytest.raises(ConfigError, match="unet-tiny"):
        unet_config("unet-huge", input_size=28, in_channels=1, num_classes=10)
    with pytest.raises(ConfigError, match=r"levels have sides \(28, 14, 7\)"):
        unet_config(
            "unet-tiny", input_size=28, in_channels=1, num_classes=10, attention_resolutions=(16,)
        )
    with pytest.raises(ConfigError, match="cannot override U-Net field"):
        unet_config("unet-tiny", input_size=28, in_channels=1, num_classes=10, width=3)
    with pytest.raises(ConfigError, match="must be an integer"):
        unet_config(
            "unet-tiny", input_size=28, in_channels=1, num_classes=10, channel_mult=(1, 2.5)
        )
    with pytest.raises(ConfigError, match="heads"):
        unet_config("unet-tiny", input_size=28, in_channels=1, num_classes=10, head_channels=48)


def test_preset_sizes():
    def millions(preset, size, channels, classes):
        with torch.device("meta"):
            net = UNet(
                unet_config(preset, input_size=size, in_channels=channels, num_classes=classes)
            )
        return sum(p.numel() for p in net.parameters()) / 1e6

    assert 1 <= millions("unet-tiny", 28, 1, 10) <= 2
    assert 30 <= millions("unet-cifar", 32, 3, 10) <= 45  # DDPM / ADM CIFAR-10 scale (35.7M)
    assert millions("unet-small", 28, 1, 10) < millions("unet-cifar", 32, 3, 10)
    assert 200 <= millions("unet-imagenet64", 64, 3, 1000) <= 320  # ADM 64×64 scale


def test_group_norm_groups_divide_channels():
    net = tiny_unet(model_channels=24, channel_mult=(1, 2), num_groups=32, head_channels=24)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_channels % m.num_groups == 0 for m in norms)
    for m in norms:  # the most groups ≤ 32 that divide the channels (24 for 24 / 48 / 72)
        assert not any(m.num_channels % g == 0 for g in range(m.num_groups + 1, 33))
    assert {m.num_groups for m in norms} >= {24, 32}


def test_zero_init_outputs_zero_and_output_depends_on_t_and_y():
    net = tiny_unet()
    x, t, y = inputs(net)
    out = net(x, t, y)
    assert torch.equal(out, torch.zeros_like(out))
    perturb_zero_init(net)
    out = net(x, t, y)
    other_y = net(x, t, (y + 1) % (net.cfg.num_classes + 1))
    other_t = net(x, t + 0.5, y)  # fractional timesteps are fine
    for b in range(3):
        assert not torch.allclose(out[b], other_y[b])
        assert not torch.allclose(out[b], other_t[b])


def test_skip_connections_carry_the_input_around_the_bottleneck():
    net = tiny_unet(channel_mult=(1, 2), mid_attention=False)
    perturb_zero_init(net)
    x, t, y = inputs(net)
    # cut the bottleneck: anything that still depends on x came through the skips
    net.mid_res2.forward = lambda h, emb: torch.zeros_like(h)
    x.requires_grad_(True)
    net(x, t, y).square().sum().backward()
    assert x.grad.abs().sum() > 0
    up_in = [level.res[0].conv1.in_channels for level in net.up]
    assert up_in == [16 + 16, 16 + 8]  # each up level's first block takes h ‖ skip


@pytest.mark.parametrize(("resolutions", "mid"), [((), False), ((14,), False), ((28, 7), True)])
def test_attention_only_at_requested_resolutions(resolutions, mid):
    net = tiny_unet(
        28,
        channels=1,
        channel_mult=(1, 1, 1),
        num_res_blocks=2,
        attention_resolutions=resolutions,
        mid_attention=mid,
    )
    seen: list[int] = []
    for m in net.modules():
        if isinstance(m, AttentionBlock):
            m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[-1]))
    net(*inputs(net))
    # per attended level: num_res_blocks on the way down, num_res_blocks + 1 on the way up
    expected = sorted([r for r in resolutions for _ in range(2 + 3)] + ([7] if mid else []))
    assert sorted(seen) == expected
    assert sum(isinstance(m, AttentionBlock) for m in net.modules()) == len(expected)


def test_channels_last_input_gives_same_output():
    net = tiny_unet(attention_resolutions=(8,))
    perturb_zero_init(net)
    x, t, y = inputs(net)
    cl_net = tiny_unet(attention_resolutions=(8,))
    cl_net.load_state_dict(net.state_dict())
    cl_net.to(memory_format=torch.channels_last)
    out = cl_net(x.contiguous(memory_format=torch.channels_last), t, y)
    torch.testing.assert_close(out, net(x, t, y), atol=1e-5, rtol=1e-4)


def test_tiny_unet_overfits_a_fixed_batch():
    torch.manual_seed(0)
    net = tiny_unet(8, channels=1, model_channels=16, head_channels=16)
    losses = denoising_losses(net, steps=40)
    assert losses[-1] < losses[0] / 10
