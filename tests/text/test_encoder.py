"""Text encoders: one interface, a learned null, masks that make padding invisible, frozen table."""

import pytest
import torch

from trigen.conditions import PAD
from trigen.errors import DataError
from trigen.text import (
    LearnedTextEncoder,
    TextEncoderKind,
    WordLlamaTextEncoder,
    build_text_encoder,
    text_spec,
    tokenizer_for,
)

CAPTIONS = ["a thick seven slanting to the right", "grinning face with big eyes; happy, smile"]
WIDTH, CONTEXT = 32, 16


def _encoder_and_tokenizer(kind):
    spec = text_spec("caption", kind, CONTEXT, CAPTIONS)
    return build_text_encoder(spec, WIDTH, layers=2, heads=4), tokenizer_for(spec)


@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_shared_interface_and_shapes(kind):
    encoder, tokenizer = _encoder_and_tokenizer(kind)
    expected = {"wordllama": WordLlamaTextEncoder, "learned": LearnedTextEncoder}[kind]
    assert type(encoder) is expected
    ids, _ = tokenizer.encode([*CAPTIONS, ""], CONTEXT)
    states = encoder(ids)
    assert states.hidden.shape == (3, CONTEXT, WIDTH) and states.pooled.shape == (3, WIDTH)
    assert states.mask.shape == (3, CONTEXT) and states.mask.dtype == torch.bool
    assert torch.equal(states.mask[:2], ids[:2] != PAD)
    assert (states.hidden[~states.mask] == 0).all()  # padding is zero
    assert encoder(ids[:, :5]).hidden.shape == (3, 5, WIDTH)  # shorter than the context


@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_null_rows_share_one_learned_null_unlike_a_caption(kind):
    encoder, tokenizer = _encoder_and_tokenizer(kind)
    ids, _ = tokenizer.encode(["", CAPTIONS[0], "", "   "], CONTEXT)
    hidden, mask, pooled = encoder(ids)
    for row in (2, 3):
        assert torch.equal(hidden[row], hidden[0]) and torch.equal(pooled[row], pooled[0])
        assert torch.equal(mask[row], mask[0])
    assert mask[0].tolist() == [True] + [False] * (CONTEXT - 1)  # one null token
    assert torch.equal(hidden[0, 0], encoder.null_token.detach())
    assert torch.equal(pooled[0], encoder.null_pooled.detach())
    assert not torch.allclose(pooled[0], pooled[1]) and not torch.allclose(hidden[0], hidden[1])


@pytest.mark.parametrize("inference", [False, True])  # eval + no_grad: attention's fast path
@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_padding_does_not_change_a_caption(kind, inference):
    encoder, tokenizer = _encoder_and_tokenizer(kind)
    encoder.train(not inference)
    short, _ = tokenizer.encode(["a thick seven"], 8)
    long, _ = tokenizer.encode(["a thick seven"], 16)
    batch, _ = tokenizer.encode(["a thick seven", CAPTIONS[1]], 16)  # beside a longer caption
    assert (long[:, 8:] == PAD).all()
    with torch.set_grad_enabled(not inference):
        a, b, both = encoder(short), encoder(long), encoder(batch)
    torch.testing.assert_close(a.pooled, b.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.hidden, b.hidden[:, :8], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both.pooled[:1], b.pooled, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_gradients_reach_the_trainable_parts_only(kind):
    encoder, tokenizer = _encoder_and_tokenizer(kind)
    ids, _ = tokenizer.encode([*CAPTIONS, ""], CONTEXT)
    hidden, _, pooled = encoder(ids)
    (hidden.square().sum() + pooled.square().sum()).backward()
    for name, p in encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    if kind is TextEncoderKind.WORDLLAMA:
        names = {name for name, _ in encoder.named_parameters()}
        assert "table" not in names and not encoder.table.requires_grad
        assert encoder.table.grad is None
        assert encoder.caption_proj.weight.grad.abs().sum() > 0


def test_the_frozen_table_is_not_in_a_checkpoint():
    encoder, tokenizer = _encoder_and_tokenizer(TextEncoderKind.WORDLLAMA)
    state = encoder.state_dict()
    assert "table" not in state
    assert sum(v.numel() for v in state.values()) < encoder.table.numel() / 10
    fresh, _ = _encoder_and_tokenizer(TextEncoderKind.WORDLLAMA)
    fresh.load_state_dict(state)  # strict: the table comes from the wheel, not the checkpoint
    ids, _ = tokenizer.encode(CAPTIONS, CONTEXT)
    torch.testing.assert_close(fresh(ids).pooled, encoder(ids).pooled)


def test_captions_longer_than_the_context_are_refused():
    encoder, _ = _encoder_and_tokenizer(TextEncoderKind.LEARNED)
    with pytest.raises(DataError, match="reads 16"):
        encoder(torch.zeros(1, CONTEXT + 1, dtype=torch.int64))


def test_an_owner_keeps_only_the_nulls_it_reads_and_loads_checkpoints_that_had_both():
    from trigen.text.conditions import TextConditions

    spec = text_spec("caption", "learned", 6, CAPTIONS)
    torch.manual_seed(0)
    both = TextConditions([spec], 16)
    torch.manual_seed(0)
    states_only = TextConditions([spec], 16, pooled=False)
    keys = set(both.state_dict()) - set(states_only.state_dict())
    assert keys == {"encoders.caption.null_pooled"}
    states_only.load_state_dict(both.state_dict())  # strict: the unread null is ignored
    for name, value in states_only.state_dict().items():
        assert torch.equal(value, both.state_dict()[name]), name
    ids = torch.full((2, 6), PAD)
    ids[0, :2] = torch.tensor([1, 2])
    a, b = both({"caption": ids}, 2, "cpu"), states_only({"caption": ids}, 2, "cpu")
    assert torch.equal(a.hidden, b.hidden) and torch.equal(a.mask, b.mask)
    assert torch.equal(a.pooled[0], b.pooled[0]) and not torch.equal(a.pooled[1], b.pooled[1])
