"""trigen ⇄ diffusers: exported models compute the same function; imports give it back."""

import pytest
import torch

from trigen.errors import CheckpointError, ConfigError
from trigen.interop.diffusers_dit import use_official_timestep_frequencies
from trigen.interop.diffusers_export import (
    export_to_diffusers,
    import_from_diffusers,
    to_diffusers,
)
from trigen.models.dit import DiT, dit_config
from trigen.models.unet import UNet, unet_config

diffusers = pytest.importorskip("diffusers")

ATOL = 1e-5
T = torch.tensor([0.0, 250.5, 999.0])  # fractional timesteps on the DDPM index scale


@torch.no_grad()
def perturbed(net):
    """``net`` in eval mode with its zero-initialised parameters made random (a non-trivial map)."""
    for p in net.parameters():
        if not p.any():
            p.normal_(0.0, 0.1)
    return net.eval()


def tiny_dit(**kw) -> DiT:
    cfg = dit_config(
        "DiT-T/2", input_size=8, in_channels=4, num_classes=5, hidden=32, depth=2, heads=2, **kw
    )
    return perturbed(DiT(cfg))


def dit_inputs():
    return torch.randn(3, 4, 8, 8), T, torch.tensor([0, 3, 5])  # 5 = the null class


@pytest.mark.parametrize("learn_sigma", [False, True])
@torch.no_grad()
def test_dit_export_from_pretrained_matches(tmp_path, learn_sigma):
    net = tiny_dit(learn_sigma=learn_sigma)
    export_to_diffusers(net, tmp_path / "dit")
    model = diffusers.DiTTransformer2DModel.from_pretrained(tmp_path / "dit").eval()
    x, t, y = dit_inputs()
    ours = net(x, t, y)
    theirs = model(x, timestep=t, class_labels=y).sample
    # diffusers' timestep frequencies differ (downscale_freq_shift=1) except at t = 0
    torch.testing.assert_close(theirs[0], ours[0], atol=ATOL, rtol=ATOL)
    assert (theirs[1:] - ours[1:]).abs().max() > 1e-4
    use_official_timestep_frequencies(model)
    torch.testing.assert_close(
        model(x, timestep=t, class_labels=y).sample, ours, atol=ATOL, rtol=ATOL
    )


@torch.no_grad()
def test_dit_round_trip_is_exact(tmp_path):
    net = tiny_dit()
    back = import_from_diffusers(export_to_diffusers(net, tmp_path / "dit"))
    assert isinstance(back, DiT) and back.cfg == net.cfg
    for key, value in net.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x, t, y = dit_inputs()
    assert torch.equal(back.eval()(x, t, y), net(x, t, y))


def test_dit_variants_without_a_diffusers_equivalent():
    with pytest.raises(ConfigError, match="adaLN-Zero"):
        to_diffusers(tiny_dit(conditioning="in_context"))
    with pytest.raises(ConfigError, match="MLP ratio"):
        to_diffusers(tiny_dit(mlp_ratio=2.0))


def test_native_diffusers_dit_with_separate_embedders_is_refused(tmp_path):
    model = diffusers.DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        num_layers=2,
        sample_size=8,
        patch_size=2,
        num_embeds_ada_norm=5,
    )
    model.save_pretrained(tmp_path / "native")
    with (
        pytest.raises(CheckpointError, match="shares one tensor"),
        pytest.warns(UserWarning, match="eps 1e-05"),  # diffusers' default MLP norm eps
    ):
        import_from_diffusers(tmp_path / "native")


def tiny_unet(size=16, num_classes=3, **kw) -> UNet:
    return perturbed(
        UNet(
            unet_config("unet-tiny", input_size=size, in_channels=1, num_classes=num_classes, **kw)
        )
    )


CASES = {
    "conditional_28": dict(size=28),  # attention at 7×7 only, no mid attention
    "unconditional_mid_attention": dict(
        size=16,
        num_classes=0,
        channel_mult=(1, 2),
        attention_resolutions=(16, 8),
        mid_attention=True,
        learn_sigma=True,
        head_channels=8,
    ),
}


@pytest.mark.parametrize("case", CASES)
@torch.no_grad()
def test_unet_export_from_pretrained_and_back_match(tmp_path, case):
    net = tiny_unet(**CASES[case])
    k, size = net.cfg.num_classes, net.cfg.input_size
    x = torch.randn(3, 1, size, size)
    y = torch.tensor([0, 2, k]) if k else torch.zeros(3, dtype=torch.long)
    ours = net(x, T, y)
    export_to_diffusers(net, tmp_path / "unet")
    model = diffusers.UNet2DModel.from_pretrained(tmp_path / "unet").eval()
    theirs = model(x, T, class_labels=y if k else None).sample
    assert ours.abs().mean() > 0.1
    torch.testing.assert_close(theirs, ours, atol=ATOL, rtol=ATOL)
    back = import_from_diffusers(tmp_path / "unet").eval()
    assert isinstance(back, UNet)
    assert back.cfg.learn_sigma == net.cfg.learn_sigma
    torch.testing.assert_close(back(x, T, y), ours, atol=ATOL, rtol=ATOL)


def native_unet(channels: int, **blocks):
    """A diffusers ``UNet2DModel`` of 16 × 16 images with ``channels`` channels in and out, two
    levels of 16 and 32 channels and GroupNorms of 8 groups; ``blocks``: its other settings."""
    return diffusers.UNet2DModel(
        sample_size=16,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(16, 32),
        norm_num_groups=8,
        **blocks,
    )


@torch.no_grad()
def test_native_diffusers_unet_imports_exactly(tmp_path):
    model = native_unet(
        3,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        attn_norm_num_groups=8,
        resnet_time_scale_shift="scale_shift",
        num_class_embeds=4,
    ).eval()
    model.save_pretrained(tmp_path / "native")
    net = import_from_diffusers(tmp_path / "native").eval()
    assert net.cfg.num_classes == 3 and net.cfg.attention_resolutions == (8,)
    x, y = torch.randn(3, 3, 16, 16), torch.tensor([0, 1, 3])
    torch.testing.assert_close(
        net(x, T, y), model(x, T, class_labels=y).sample, atol=ATOL, rtol=ATOL
    )


def test_unet_differences_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="odd feature"):
        to_diffusers(tiny_unet(size=28, channel_mult=(1, 2, 2, 2)))
    with pytest.raises(ConfigError, match="GroupNorm groups"):
        to_diffusers(tiny_unet(num_groups=32))
    with pytest.raises(ConfigError, match="one attention head width"):
        to_diffusers(tiny_unet(head_channels=None, num_heads=2, attention_resolutions=(16, 8)))
    default_resnets = native_unet(
        1, down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2
    )
    default_resnets.save_pretrained(tmp_path / "default_resnets")
    with pytest.raises(ConfigError, match="resnet_time_scale_shift='default'"):
        import_from_diffusers(tmp_path / "default_resnets")


def test_directories(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        export_to_diffusers(tiny_dit(), tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="adaLN-Zero"):
        export_to_diffusers(tiny_dit(conditioning="adaln"), tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    with pytest.raises(CheckpointError, match="not a diffusers model directory"):
        import_from_diffusers(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        import_from_diffusers(tmp_path / "full")
