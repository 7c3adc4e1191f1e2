"""Properties of the causal pixel/token transformer: causality, KV-cache decoding, configs."""

import dataclasses

import pytest
import torch

from trigen.errors import ConfigError
from trigen.models.ar_transformer import (
    AR_PRESETS,
    ARTransformer,
    ARTransformerConfig,
    Positions,
    ar_config,
)

NUM_CLASSES = 5


def tiny(
    positions: Positions = Positions.LEARNED,
    grid=(3, 3, 3),
    vocab=256,
    class_bias=False,
    class_adaln=False,
) -> ARTransformer:
    cfg = ar_config(
        "ar-tiny", grid=grid, num_classes=NUM_CLASSES, vocab_size=vocab, width=32, depth=2,
        heads=4, positions=positions, class_bias=class_bias, class_adaln=class_adaln,
    )  # fmt: skip
    model = ARTransformer(cfg).eval()
    if class_adaln:  # open the zero-initialised gates, or every block is the identity
        open_adaln_gates(model)
    return model


@torch.no_grad()
def open_adaln_gates(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for block in model.blocks:
        linear = block.adaLN_modulation[1]
        linear.weight.copy_(0.2 * torch.randn(linear.weight.shape, generator=g))
        linear.bias.copy_(0.2 * torch.randn(linear.bias.shape, generator=g))


# (positions, class_bias, class_adaln): every positions mode, then the class options
VARIANTS = [*((p, False, False) for p in Positions), ("rope", True, False), ("rope", False, True)]


def random_batch(model: ARTransformer, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, model.cfg.vocab_size, (batch, model.cfg.seq_len))
    labels = torch.arange(batch) % (NUM_CLASSES + 1)  # includes the null class
    return tokens, labels


@pytest.mark.parametrize(("positions", "class_bias", "class_adaln"), VARIANTS)
def test_logits_depend_only_on_earlier_inputs(positions, class_bias, class_adaln):
    model = tiny(positions, class_bias=class_bias, class_adaln=class_adaln)
    tokens, labels = random_batch(model)
    embedded = model.embed(tokens[:, :-1], labels).detach().requires_grad_()  # (B, L, D)
    logits = model.logits(embedded, None, labels)  # (B, L, V)
    length = logits.shape[1]
    for i in range(length):
        (grad,) = torch.autograd.grad(logits[:, i].sum(), embedded, retain_graph=True)
        assert torch.all(grad[:, i + 1 :] == 0), f"logits {i} see a later input"
        assert grad[:, i].abs().sum() > 0  # and they do see their own position


def test_changing_a_token_changes_only_later_logits():
    model = tiny()
    tokens, labels = random_batch(model)
    base = model(tokens[:, :-1], labels)
    j = 10
    changed = tokens.clone()
    changed[:, j] = (changed[:, j] + 1) % 256
    out = model(changed[:, :-1], labels)
    # x_j is read at stream position j + 1, so logits 0..j (which predict x_0..x_j) are unaffected
    assert torch.equal(out[:, : j + 1], base[:, : j + 1])
    assert not torch.allclose(out[:, j + 1 :], base[:, j + 1 :])


@pytest.mark.parametrize(("positions", "class_bias", "class_adaln"), VARIANTS)
@pytest.mark.parametrize("prefill", [0, 1, 7])
def test_kv_cache_decoding_equals_full_forward(positions, class_bias, class_adaln, prefill):
    model = tiny(positions, class_bias=class_bias, class_adaln=class_adaln)
    tokens, labels = random_batch(model, batch=4)
    with torch.no_grad():
        full = model(tokens[:, :-1], labels)  # (B, L, V)
        cache = model.new_cache(tokens.shape[0])
        pieces = [model(tokens[:, :prefill], labels, cache)]  # class token + prefill tokens
        for i in range(prefill, model.cfg.seq_len - 1):
            pieces.append(model(tokens[:, i : i + 1], labels, cache))  # one new position
    stepped = torch.cat(pieces, dim=1)
    assert stepped.shape == full.shape
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)


def test_kv_cache_with_cfg_doubled_batch():
    model = tiny()
    tokens, labels = random_batch(model, batch=2)
    both_tokens = torch.cat([tokens, tokens])
    both_labels = torch.cat([labels, torch.full_like(labels, NUM_CLASSES)])  # [cond ‖ uncond]
    with torch.no_grad():
        full = model(both_tokens[:, :-1], both_labels)
        cache = model.new_cache(4)
        pieces = [model(both_tokens[:, :0], both_labels, cache)]
        for i in range(model.cfg.seq_len - 1):
            pieces.append(model(both_tokens[:, i : i + 1], both_labels, cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(full[:2], full[2:])  # the two halves really are conditioned apart


def test_stream_longer_than_seq_len_is_refused():
    model = tiny()
    tokens, labels = random_batch(model)
    with pytest.raises(ValueError, match="only a target"):
        model(tokens, labels)  # L data tokens + the class token = L + 1 positions


def test_config_validation_and_presets():
    for preset in AR_PRESETS:
        cfg = ar_config(preset, grid=(28, 28, 1), num_classes=10)
        assert cfg.seq_len == 784 and cfg.null_class == 10
    cfg = ar_config("ar-tiny", image_shape=(3, 4, 5), num_classes=0, positions="2d")
    assert cfg.seq_len == 60 and cfg.grid == (4, 5, 3) and cfg.vocab_size == 256
    with pytest.raises(ConfigError, match="exactly one"):
        ar_config("ar-tiny", image_shape=(1, 4, 4), grid=(4, 4, 1), num_classes=10)
    with pytest.raises(ConfigError, match="unknown AR preset"):
        ar_config("ar-huge", grid=(4, 4, 1), num_classes=10)
    with pytest.raises(ConfigError, match="positions"):
        ar_config("ar-tiny", grid=(4, 4, 1), num_classes=10, positions="alibi")
    with pytest.raises(ConfigError, match="RoPE"):  # head width 40 / 8 = 5: not a multiple of 4
        ar_config("ar-tiny", grid=(4, 4, 1), num_classes=10, positions="rope", heads=8, width=40)
    with pytest.raises(ConfigError, match="field"):
        ar_config("ar-tiny", grid=(4, 4, 1), num_classes=10, widht=3)
    with pytest.raises(ConfigError, match="divisible"):
        ARTransformerConfig(
            vocab_size=256, grid=(2, 2, 1), num_classes=1, width=30, depth=1, heads=4
        )


def test_new_cache_matches_model():
    model = tiny()
    cache = model.new_cache(6)
    assert cache.k.shape == (2, 6, 4, model.cfg.seq_len, 8)
    assert cache.k.dtype == torch.float32 and cache.length == 0


def test_class_bias_reuses_the_class_embedding_and_conditions_every_position():
    plain, biased = tiny(Positions.ROPE), tiny(Positions.ROPE, class_bias=True)
    biased.load_state_dict(plain.state_dict())  # no new parameters: the prefix's embedding table
    tokens, labels = random_batch(plain)
    with torch.no_grad():
        embedded = biased.embed(tokens[:, :-1], labels) - plain.embed(tokens[:, :-1], labels)
        class_vectors = plain.y_embedder(labels)[:, None]
    assert torch.equal(embedded[:, 0], torch.zeros_like(embedded[:, 0]))  # the prefix itself
    torch.testing.assert_close(embedded[:, 1:], class_vectors.expand_as(embedded[:, 1:]))


def test_class_adaln_blocks_start_as_the_identity_and_condition_every_position():
    fresh = ARTransformer(dataclasses.replace(tiny().cfg, positions="rope", class_adaln=True))
    tokens, labels = random_batch(fresh)
    x = torch.randn(3, 7, 32)
    c = fresh.y_embedder(labels)
    rope = (fresh.rope_cos[:7], fresh.rope_sin[:7])
    with torch.no_grad():
        for block in fresh.blocks:  # adaLN-Zero: closed gates
            assert torch.equal(block(x, None, rope, c), x)
        open_adaln_gates(fresh)
        # the same tokens under two classes: the modulation reaches every position's logits
        other = (labels + 1) % NUM_CLASSES
        a, b = fresh(tokens[:, :-1], labels), fresh(tokens[:, :-1], other)
    assert (a - b).abs().amax(dim=-1).gt(1e-4).all()
    with pytest.raises(ValueError, match="class embedding"):
        fresh.blocks[0](x, None, rope)


def test_gpt2_export_refuses_class_modulation():
    from trigen.interop.gpt2 import gpt2_state_dict

    with pytest.raises(ConfigError, match="class_adaln"):
        gpt2_state_dict(tiny(class_adaln=True))


@pytest.mark.parametrize(
    "positions, table, rotary",
    [(Positions.LEARNED, True, False), (Positions.TWO_D, False, False),
     (Positions.ROPE, True, True), (Positions.ROTARY, False, True)],
)  # fmt: skip
def test_each_positions_mode_holds_exactly_what_its_name_says(positions, table, rotary):
    net = tiny(positions)
    assert hasattr(net, "pos_embed") == table
    assert hasattr(net, "rope_cos") == rotary
