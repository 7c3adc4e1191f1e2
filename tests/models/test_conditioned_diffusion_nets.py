"""DiT and U-Net read named conditions: each mechanism, its init, its null (issue 25)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.models.dit import DiT, dit_config
from trigen.models.unet import UNet, unet_config

SPECS = (
    ConditionSpec("attributes", ConditionKind.VECTOR, 3),
    ConditionSpec("skeleton", ConditionKind.MAP, 1),
)
SIDE = 8


def inputs(batch: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, SIDE, SIDE, generator=g)
    t, y = torch.rand(batch, generator=g) * 999, torch.tensor([1, 2, 4])[:batch]
    c = {
        "attributes": torch.randn(batch, 3, generator=g),
        "skeleton": torch.randn(batch, 1, SIDE, SIDE, generator=g).sign(),
    }
    return x, t, y, c


def dit(**overrides) -> DiT:
    torch.manual_seed(0)
    cfg = dit_config(
        "DiT-T/4", input_size=SIDE, in_channels=1, num_classes=4, conditions=SPECS, **overrides
    )
    net = DiT(cfg)
    nn.init.normal_(net.final_layer.linear.weight, std=0.1)  # a zero output would hide everything
    return net


def unet(**overrides) -> UNet:
    torch.manual_seed(0)
    cfg = unet_config(
        "unet-tiny", input_size=SIDE, in_channels=1, num_classes=4, conditions=SPECS, **overrides
    )
    net = UNet(cfg)
    nn.init.normal_(net.conv_out.weight, std=0.1)
    return net


def nudge_zero_initialised(net: nn.Module) -> None:
    """Move every parameter entry that starts at exactly zero, so zero-initialised paths open."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            zero = p == 0
            p[zero] = torch.randn(int(zero.sum()), generator=g) * 0.05


ZERO_INIT = [
    ("dit adaLN vector + patch map", lambda: dit()),
    ("dit adaLN (no gates) vector + patch map", lambda: dit(conditioning="adaln")),
    ("unet time-embedding vector + hint map", lambda: unet()),
    ("unet time-embedding vector + concat map", lambda: unet(map_injection="concat")),
]
TOKENS = [
    ("dit vector and map tokens", lambda: dit(vector_injection="tokens", map_injection="tokens")),
    (
        "dit uniform: everything a token",
        lambda: dit(conditioning="in_context", vector_injection="tokens", map_injection="tokens"),
    ),
    ("dit cross-attention context", lambda: dit(conditioning="cross_attn", map_injection="tokens")),
    ("dit rope with map tokens", lambda: dit(map_injection="tokens", rope=True)),
]


@pytest.mark.parametrize("name,make", ZERO_INIT, ids=[n for n, _ in ZERO_INIT])
def test_zero_initialised_mechanisms_are_the_identity_at_init(name, make):
    net = make()
    x, t, y, c = inputs()
    with torch.no_grad():
        assert torch.equal(net(x, t, y, c), net(x, t, y))


@pytest.mark.parametrize("name,make", ZERO_INIT + TOKENS, ids=[n for n, _ in ZERO_INIT + TOKENS])
def test_each_condition_moves_the_output_and_its_null_equals_its_absence(name, make):
    net = make()
    nudge_zero_initialised(net)
    x, t, y, c = inputs()
    with torch.no_grad():
        base = net(x, t, y, c)
        for key in c:
            other = dict(c, **{key: c[key].flip(0)})  # another row's condition
            assert not torch.allclose(net(x, t, y, other), base, atol=1e-6), key
            null = dict(c, **{key: torch.full_like(c[key], math.nan)})
            absent = {k: v for k, v in c.items() if k != key}
            assert torch.equal(net(x, t, y, null), net(x, t, y, absent)), key
            assert torch.isfinite(net(x, t, y, null)).all()


def test_rows_do_not_leak_between_examples():
    net = dit(vector_injection="tokens", map_injection="tokens")
    nudge_zero_initialised(net)
    x, t, y, c = inputs()
    with torch.no_grad():
        full = net(x, t, y, c)
        one = net(x[:1], t[:1], y[:1], {k: v[:1] for k, v in c.items()})
    assert torch.allclose(full[:1], one, atol=1e-5)


def test_class_only_configs_build_the_same_network_as_before():
    torch.manual_seed(0)
    plain = DiT(dit_config("DiT-T/4", input_size=SIDE, in_channels=1, num_classes=4))
    assert not any("vector" in k or "map_" in k for k in plain.state_dict())
    torch.manual_seed(0)
    again = DiT(dit_config("DiT-T/4", input_size=SIDE, in_channels=1, num_classes=4, conditions=()))
    for (k, a), (_, b) in zip(plain.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


CAPTION = ConditionSpec(
    "caption", ConditionKind.TOKENS, 6, encoder="learned", vocabulary=("<unk>", "a", "thin", "7")
)


def captions(batch: int = 3) -> torch.Tensor:
    ids = torch.tensor([[1, 2, 3, -1, -1, -1], [1, 3, -1, -1, -1, -1], [2, 2, 3, 1, -1, -1]])
    return ids[:batch]


def text_dit(**overrides) -> DiT:
    torch.manual_seed(0)
    cfg = dit_config(
        "DiT-T/4", input_size=SIDE, in_channels=1, num_classes=4, conditions=(CAPTION,), **overrides
    )
    net = DiT(cfg)
    nn.init.normal_(net.final_layer.linear.weight, std=0.1)
    return net


TEXT_MODES = ["cross_attn", "tokens", "joint", "pooled"]


@pytest.mark.parametrize("mode", ["cross_attn", "pooled"])
def test_caption_cross_attention_and_pooled_adaln_are_the_identity_at_init(mode):
    net = text_dit(text_injection=mode)
    x, t, y, _ = inputs()
    with torch.no_grad():
        assert torch.equal(net(x, t, y, {"caption": captions()}), net(x, t, y))


@pytest.mark.parametrize("mode", TEXT_MODES)
def test_a_caption_moves_the_output_and_the_empty_caption_is_its_null(mode):
    net = text_dit(text_injection=mode, rope=mode in ("tokens", "joint"))
    nudge_zero_initialised(net)
    x, t, y, _ = inputs()
    ids = captions()
    with torch.no_grad():
        base = net(x, t, y, {"caption": ids})
        assert not torch.allclose(net(x, t, y, {"caption": ids.flip(0)}), base, atol=1e-6)
        empty = torch.full_like(ids, -1)
        assert torch.equal(net(x, t, y, {"caption": empty}), net(x, t, y))


def test_pooled_text_needs_adaln():
    with pytest.raises(Exception, match="pooled feeds adaLN"):
        text_dit(text_injection="pooled", conditioning="in_context")


def test_joint_text_needs_adaln_zero():
    for conditioning in ("adaln", "in_context", "cross_attn"):
        with pytest.raises(Exception, match="joint"):
            text_dit(text_injection="joint", conditioning=conditioning)


def test_mmdit_caption_stream_starts_as_the_identity_and_its_padding_is_never_read():
    """Joint attention (SD3): the caption's own adaLN-Zero gates start closed, so a block leaves
    the caption tokens as they came; the image tokens read the caption's real positions only."""
    net = text_dit(text_injection="joint")
    block = net.blocks[0]
    assert block.caption is not None and net.blocks[-1].caption.last
    x, t, y, _ = inputs()
    with torch.no_grad():
        text = net.text({"caption": captions()}, 3, x.device)
        c = net.t_embedder(t) + net.y_embedder(y)
        tokens = torch.cat([net.x_embedder(x) + net.pos_embed, text.hidden], dim=1)
        out = block(tokens, c, None, text)
        L = text.hidden.shape[1]
        assert torch.equal(out[:, -L:], tokens[:, -L:])  # the caption stream: identity at init
        nudge_zero_initialised(net)
        base = block(tokens, c, None, text)
        assert not torch.equal(base[:, -L:], tokens[:, -L:])
        padded = tokens.clone()
        padded[:, -L:][~text.mask] = 123.0  # whatever sits at the padding
        again = block(padded, c, None, text)
        torch.testing.assert_close(again[:, :-L], base[:, :-L], rtol=0, atol=1e-6)


def test_mmdit_trains_every_parameter():
    """No parameter without a gradient (a data-parallel job would stop on one): the last block
    keeps only the caption weights that feed its attention."""
    net = text_dit(text_injection="joint", rope=True)
    nudge_zero_initialised(net)
    x, t, y, _ = inputs()
    net(x, t, y, {"caption": captions()}).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, missing
    assert not hasattr(net.blocks[-1].caption, "mlp")


def text_unet() -> UNet:
    torch.manual_seed(0)
    cfg = unet_config(
        "unet-tiny", input_size=SIDE, in_channels=1, num_classes=4, conditions=(CAPTION,)
    )
    net = UNet(cfg)
    nn.init.normal_(net.conv_out.weight, std=0.1)
    return net


def test_unet_reads_captions_by_cross_attention_and_the_time_embedding():
    net = text_unet()
    x, t, y, _ = inputs()
    ids = captions()
    with torch.no_grad():
        assert torch.equal(net(x, t, y, {"caption": ids}), net(x, t, y))  # zero at init
        nudge_zero_initialised(net)
        base = net(x, t, y, {"caption": ids})
        assert not torch.allclose(net(x, t, y, {"caption": ids.flip(0)}), base, atol=1e-6)
        assert torch.equal(net(x, t, y, {"caption": torch.full_like(ids, -1)}), net(x, t, y))
    assert any(b.text_attn is not None for b in net.modules() if hasattr(b, "text_attn"))
