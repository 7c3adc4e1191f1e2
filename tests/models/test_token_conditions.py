"""The token models read named conditions: AR and MaskGIT as prefix tokens, PixelCNN as a
conditional PixelCNN (vector biases, unmasked map features); their nulls, init and cache
(issue 25)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trigen.conditions import ConditionKind, ConditionSpec
from trigen.errors import ConfigError
from trigen.models.ar_transformer import ARTransformer, ar_config
from trigen.models.maskgit import MaskGIT, maskgit_config
from trigen.models.pixelcnn import PixelCNN, pixelcnn_config

VECTOR = ConditionSpec("attributes", ConditionKind.VECTOR, 3)
MAP = ConditionSpec("skeleton", ConditionKind.MAP, 1)
SPECS = (VECTOR, MAP)
SIDE = 8
TINY = {"width": 32, "depth": 2, "heads": 4}
LABELS = torch.tensor([1, 2, 4])


def conds(batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "attributes": torch.randn(batch, 3, generator=g),
        "skeleton": torch.randn(batch, 1, SIDE, SIDE, generator=g).sign(),
    }


def null(value: torch.Tensor) -> torch.Tensor:
    return torch.full_like(value, math.nan)


def token_model(model, config, preset: str, specs, overrides):
    torch.manual_seed(0)
    shape = (1, SIDE, SIDE)
    cfg = config(preset, image_shape=shape, num_classes=4, conditions=specs, **TINY, **overrides)
    return model(cfg).eval()


def ar(specs=SPECS, **overrides) -> ARTransformer:
    return token_model(ARTransformer, ar_config, "ar-tiny", specs, overrides)


def maskgit(specs=SPECS, **overrides) -> MaskGIT:
    return token_model(MaskGIT, maskgit_config, "maskgit-tiny", specs, overrides)


def pixelcnn(specs=SPECS, **overrides) -> PixelCNN:
    torch.manual_seed(0)
    cfg = pixelcnn_config(
        "pixelcnn-tiny", input_size=SIDE, num_classes=4, conditions=specs, channels=8,
        num_layers=3, **overrides,
    )  # fmt: skip
    return PixelCNN(cfg).eval()


def tokens(batch: int = 3, length: int = SIDE * SIDE, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (batch, length), generator=torch.Generator().manual_seed(seed))


def images(batch: int = 3) -> torch.Tensor:
    return tokens(batch).view(batch, 1, SIDE, SIDE) / 127.5 - 1


def nudge_zero_initialised(net: nn.Module) -> nn.Module:
    """Move every parameter that starts at exactly zero, so zero-initialised paths open."""
    with torch.no_grad():
        for p in net.parameters():
            if p.abs().max() == 0:
                p.normal_(std=0.1)
    return net


# ------------------------------------------------------------------------------ one call each
def ar_logits(net, c):
    return net(tokens()[:, :-1], LABELS, None, c)


def maskgit_logits(net, c):
    return net(tokens(), LABELS, c)


def pixelcnn_logits(net, c):
    return net(images(), LABELS, c)


MODELS = [
    ("ar", ar, ar_logits),
    ("ar rope", lambda: ar(positions="rope"), ar_logits),
    ("ar rotary", lambda: ar(positions="rotary"), ar_logits),
    ("maskgit", maskgit, maskgit_logits),
    ("maskgit rotary", lambda: maskgit(positions="rotary"), maskgit_logits),
    ("pixelcnn", pixelcnn, pixelcnn_logits),
]
IDS = [name for name, _, _ in MODELS]


@pytest.mark.parametrize("name,make,logits_of", MODELS, ids=IDS)
def test_outputs_depend_on_each_condition(name, make, logits_of):
    net, c = nudge_zero_initialised(make()), conds()
    with torch.no_grad():
        base = logits_of(net, c)
        for key in c:
            other = dict(c, **{key: conds(seed=5)[key]})
            assert not torch.allclose(base, logits_of(net, other), atol=1e-6), key


@pytest.mark.parametrize("name,make,logits_of", MODELS, ids=IDS)
def test_a_null_condition_is_an_absent_one_and_leaves_the_others(name, make, logits_of):
    net, c = nudge_zero_initialised(make()), conds()
    with torch.no_grad():
        for key in c:
            nulled = logits_of(net, dict(c, **{key: null(c[key])}))
            absent = logits_of(net, {k: v for k, v in c.items() if k != key})
            torch.testing.assert_close(nulled, absent, rtol=0, atol=0)
            # the condition left on still acts
            (kept,) = set(c) - {key}
            both_null = logits_of(net, {kept: null(c[kept])})
            assert not torch.allclose(absent, both_null, atol=1e-6), kept
        # one null row is that row's null, the others keep their values
        rows = dict(c, attributes=c["attributes"].clone())
        rows["attributes"][1] = math.nan
        mixed = logits_of(net, rows)
        all_null = logits_of(net, dict(c, attributes=null(c["attributes"])))
        torch.testing.assert_close(mixed[1], all_null[1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(mixed[0], logits_of(net, c)[0], rtol=1e-5, atol=1e-5)


CAPTION = ConditionSpec(
    "caption", ConditionKind.TOKENS, 6, encoder="learned", vocabulary=("<unk>", "a", "thin", "7")
)


def captions(batch: int = 3) -> torch.Tensor:
    ids = torch.full((batch, 6), -1)
    ids[:, :3] = torch.tensor([1, 2, 3])
    ids[0, 1] = -1  # rows differ in length
    return ids


def test_pixelcnn_conditions_are_the_identity_at_init():
    """Zero-initialised vector biases, map convolutions and pooled-caption bias: a fresh
    conditioned PixelCNN is its class-only self, whatever the conditions."""
    net, plain = pixelcnn(specs=(*SPECS, CAPTION)), pixelcnn(specs=())
    missing, unexpected = plain.load_state_dict(net.state_dict(), strict=False)
    assert not missing and unexpected
    assert all("vector" in k or "map_" in k or "text" in k for k in unexpected), unexpected
    with torch.no_grad():
        want = plain(images(), LABELS)
        given = dict(conds(), caption=captions())
        torch.testing.assert_close(net(images(), LABELS, given), want, rtol=0, atol=0)
        torch.testing.assert_close(net(images(), LABELS), want, rtol=0, atol=0)


def test_pixelcnn_stays_causal_in_the_image_and_sees_the_whole_map():
    net = pixelcnn()
    nudge_zero_initialised(net)
    x = images(1).requires_grad_()
    c = {"skeleton": conds(1)["skeleton"].requires_grad_(), "attributes": conds(1)["attributes"]}
    i, j = 3, 4
    net(x, LABELS[:1], c)[0, :, 0, i, j].sum().backward()
    after = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    after.view(-1)[i * SIDE + j :] = True  # the pixel itself and every later one
    assert x.grad[0, 0][after].abs().max() == 0
    assert c["skeleton"].grad[0, 0, i + 1, j + 1] != 0  # the map below and right: a condition


# ------------------------------------------------------------------------------ prefix tokens
def test_prefix_is_one_token_per_vector_and_the_map_patches():
    net = ar(map_patch=4)
    assert net.cfg.prefix_len == 1 + (SIDE // 4) ** 2
    assert ar(specs=(VECTOR,)).cfg.prefix_len == 1
    assert ar(specs=(MAP,), map_patch=2).cfg.prefix_len == (SIDE // 2) ** 2
    cache = net.new_cache(3)
    assert cache.max_len == net.cfg.prefix_len + net.cfg.seq_len
    with torch.no_grad():  # logits of the class and the data positions only
        assert ar_logits(net, conds()).shape == (3, SIDE * SIDE, 256)
        assert net(tokens()[:, :5], LABELS, cache, conds()).shape == (3, 6, 256)
        assert net(tokens()[:, 5:6], LABELS, cache).shape == (3, 1, 256)
        assert maskgit_logits(maskgit(), conds()).shape == (3, SIDE * SIDE, 256)


@pytest.mark.parametrize("positions", ["learned", "2d", "rope", "rotary"])
def test_kv_cache_with_a_prefix_equals_the_full_forward(positions):
    net = ar(positions=positions, class_adaln=True)
    nudge_zero_initialised(net)
    x, c = tokens()[:, :-1], conds()
    with torch.no_grad():
        full = net(x, LABELS, None, c)
        cache = net.new_cache(3)
        parts = [net(x[:, :10], LABELS, cache, c)]
        parts += [net(x[:, k : k + 1], LABELS, cache, c) for k in range(10, x.shape[1])]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-4, atol=1e-4)
    assert cache.length == net.cfg.prefix_len + net.cfg.seq_len


@pytest.mark.parametrize("specs", [SPECS, (VECTOR, CAPTION)], ids=["vector+map", "caption"])
def test_prefix_positions_are_not_rotated(specs):
    for net in (ar(specs=specs, positions="rotary"), maskgit(specs=specs, positions="rope")):
        unrotated = net.cfg.prefix_len + (1 if isinstance(net, MaskGIT) else 0)
        assert torch.equal(net.rope_cos[:unrotated], torch.ones_like(net.rope_cos[:unrotated]))
        assert torch.equal(net.rope_sin[:unrotated], torch.zeros_like(net.rope_sin[:unrotated]))
        plain = type(net)(type(net.cfg)(**{**vars(net.cfg), "conditions": ()}))
        plain_start = unrotated - net.cfg.prefix_len  # the class token (MaskGIT) is unrotated
        torch.testing.assert_close(net.rope_cos[unrotated:], plain.rope_cos[plain_start:])


def test_ar_data_tokens_stay_causal_behind_the_prefix():
    net = ar()
    x = net.embed(tokens()[:, :-1], LABELS, 0, conds()).detach().requires_grad_()
    out = net.logits(x, None, LABELS)  # (B, L, V): the prefix predicts nothing
    assert out.shape[1] == x.shape[1] - net.cfg.prefix_len
    p = 7
    (grad,) = torch.autograd.grad(out[:, p].sum(), x)
    seen = grad.abs().sum(dim=(0, 2))  # per stream position, the prefix first
    stream = net.cfg.prefix_len + p  # where position p's logits are read
    assert seen[stream + 1 :].max() == 0 and seen[: net.cfg.prefix_len].min() > 0


# ------------------------------------------------------------------------------ class only
CLASS_ONLY = [
    ("ar", ar, lambda: ar_config("ar-tiny", image_shape=(1, SIDE, SIDE), num_classes=4, **TINY)),
    (
        "maskgit",
        maskgit,
        lambda: maskgit_config("maskgit-tiny", image_shape=(1, SIDE, SIDE), num_classes=4, **TINY),
    ),
    (
        "pixelcnn",
        pixelcnn,
        lambda: pixelcnn_config(
            "pixelcnn-tiny", input_size=SIDE, num_classes=4, channels=8, num_layers=3
        ),
    ),
]


@pytest.mark.parametrize("name,make,config", CLASS_ONLY, ids=[n for n, _, _ in CLASS_ONLY])
def test_class_only_configs_build_exactly_the_class_only_model(name, make, config):
    """No conditions: the net built without a ``conditions`` field, with no new parameter or
    buffer, the same draws and the same outputs with or without an empty ``conds``. (The
    outputs of class-only nets themselves are pinned by the older tests of each model.)"""
    net = make(specs=())
    torch.manual_seed(0)
    without = type(net)(config()).eval()
    assert list(net.state_dict()) == list(without.state_dict())
    ours, theirs = net.state_dict(), without.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    names = list(net.state_dict()) + [n for n, _ in net.named_buffers()]
    assert not any("prefix" in n or "vector" in n or "map_" in n for n in names)
    logits_of = {"ar": ar_logits, "maskgit": maskgit_logits, "pixelcnn": pixelcnn_logits}[name]
    with torch.no_grad():
        torch.testing.assert_close(logits_of(net, {}), logits_of(without, {}), rtol=0, atol=0)
    if isinstance(net, ARTransformer):
        assert net.cfg.prefix_len == 0 and net.new_cache(1).max_len == net.cfg.seq_len


def test_a_caption_is_its_context_length_of_prefix_tokens_and_bad_map_patches_are_errors():
    words = ConditionSpec("caption", ConditionKind.TOKENS, 16, encoder="learned", vocabulary=("a",))
    assert ar(specs=(words,)).cfg.prefix_len == 16
    assert ar(specs=(VECTOR, words)).cfg.prefix_len == 17
    with pytest.raises(ConfigError, match="map_patch"):
        ar(map_patch=3)
    ar(specs=(VECTOR,), map_patch=3)  # no map: the patch size does not matter


def test_a_map_of_the_wrong_side_says_which_side_the_model_reads():
    net = ar(map_size=16)  # a VQ model reads maps at image resolution
    assert net.cfg.prefix_len == 1 + (16 // 4) ** 2
    with pytest.raises(ValueError, match="map_size"), torch.no_grad():
        ar_logits(net, conds())
    big = {"skeleton": torch.ones(3, 1, 16, 16)}
    with torch.no_grad():
        assert ar_logits(net, big).shape == (3, SIDE * SIDE, 256)
