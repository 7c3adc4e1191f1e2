"""GPT-2 → AR transformer: with matched vocabulary and positions the logits are GPT-2's."""

import pytest
import torch

from trigen.errors import CheckpointError
from trigen.interop.common import SkipReason
from trigen.interop.gpt2 import init_ar_from_gpt2
from trigen.models.ar_transformer import ARTransformer, ar_config

transformers = pytest.importorskip("transformers")

VOCAB, WIDTH, HEADS = 16, 32, 2


def tiny_ar(depth=2, vocab=VOCAB, **kw) -> ARTransformer:
    cfg = ar_config(
        "ar-tiny",
        num_classes=3,
        grid=(3, 3, 1),
        vocab_size=vocab,
        width=WIDTH,
        depth=depth,
        heads=HEADS,
        **kw,
    )
    return ARTransformer(cfg)


def saved_gpt2(tmp_path, *, layers=2, vocab=VOCAB, positions=12, tie=True):
    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=positions,
        n_embd=WIDTH,
        n_layer=layers,
        n_head=HEADS,
        tie_word_embeddings=tie,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial norms and biases
        for name, p in model.named_parameters():
            if "ln_" in name or name.endswith("bias"):
                p.normal_(0.0, 0.5)
    model.save_pretrained(tmp_path)
    return model, tmp_path


@pytest.mark.parametrize("tie", [True, False])
@torch.no_grad()
def test_logits_equal_gpt2_on_the_same_stream(tmp_path, tie):
    gpt, directory = saved_gpt2(tmp_path, tie=tie)
    net = tiny_ar().eval()
    report = init_ar_from_gpt2(net, directory)
    assert report.not_loaded == ["y_embedder.embedding_table.weight"]
    assert report.loaded["head.bias"] == ()
    assert not report.notes
    # the class token of class y plays the GPT-2 token c_y: give it that token's embedding
    y, c = torch.tensor([0, 2]), torch.tensor([5, 11])
    wte = gpt.get_input_embeddings().weight
    net.y_embedder.embedding_table.weight[y] = wte[c]
    x = torch.randint(0, VOCAB, (2, net.cfg.seq_len))
    ours = net(x[:, :-1], y)  # (B, 9, V): stream [class, x_0 .. x_7]
    theirs = gpt(torch.cat([c[:, None], x[:, :-1]], dim=1)).logits
    assert ours.shape == theirs.shape == (2, 9, VOCAB)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    head = gpt.get_output_embeddings().weight
    assert torch.equal(net.head.weight, head)


def test_mismatches_are_reported(tmp_path):
    _, directory = saved_gpt2(tmp_path, layers=3, vocab=50, positions=4)
    net = tiny_ar(depth=2)
    report = init_ar_from_gpt2(net, directory)
    reasons = {k: v.reason for k, v in report.skipped.items()}
    assert reasons.pop("transformer.wte.weight") is SkipReason.VOCAB
    assert reasons.pop("transformer.wpe.weight") is SkipReason.POSITIONS
    assert set(reasons.values()) == {SkipReason.NO_TARGET}
    assert all(k.startswith("transformer.h.2.") for k in reasons)
    assert {"tok_embedder.weight", "head.weight", "head.bias", "pos_embed"} <= set(
        report.not_loaded
    )
    assert "blocks.1.attn.qkv.weight" in report.loaded


def test_two_d_positions_and_heads_and_depth(tmp_path):
    _, directory = saved_gpt2(tmp_path, layers=1)
    net = tiny_ar(depth=2, positions="2d")
    report = init_ar_from_gpt2(net, directory, source_heads=4)
    assert report.skipped["transformer.wpe.weight"].reason is SkipReason.POSITIONS
    assert report.skipped["transformer.h.0.attn.c_attn.weight"].reason is SkipReason.HEADS
    assert "blocks.0.mlp.fc1.weight" in report.loaded
    assert "blocks.1.mlp.fc1.weight" in report.not_loaded
    assert any("1 blocks" in note for note in report.notes)


def test_state_dict_without_prefix_and_old_mask_buffers():
    sd = {k.removeprefix("transformer."): v for k, v in tiny_gpt2_state().items()}
    sd["h.0.attn.bias"] = torch.ones(1, 1, 12, 12)
    net = tiny_ar(depth=1)
    report = init_ar_from_gpt2(net, sd, source_heads=HEADS)
    assert report.skipped["h.0.attn.bias"].reason is SkipReason.BUFFER
    assert torch.equal(net.blocks[0].attn.qkv.weight, sd["h.0.attn.c_attn.weight"].t())


def tiny_gpt2_state():
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=12,
        n_embd=WIDTH,
        n_layer=1,
        n_head=HEADS,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config).state_dict()


def test_not_gpt2():
    with pytest.raises(CheckpointError, match="not a GPT-2 checkpoint"):
        init_ar_from_gpt2(tiny_ar(), {"h.0.mlp.c_fc.weight": torch.zeros(2, 2)})
