"""Tokenizers: vocabulary order, round trips, the empty caption as the null, truncation."""

import pytest
import torch

from trigen.conditions import PAD, ConditionKind, ConditionSpec, is_null
from trigen.errors import ConfigError
from trigen.text import (
    UNK,
    TextEncoderKind,
    WordLlamaTokenizer,
    WordTokenizer,
    build_vocabulary,
    text_spec,
    tokenizer_for,
)

CAPTIONS = [
    "a thick seven slanting to the right",
    "a thin three",
    "grinning face with big eyes; happy, smile",
    "the man's face, slanting left!",
]


def test_vocabulary_is_by_frequency_then_alphabet_and_order_free():
    vocabulary = build_vocabulary(["b a c", "a b", "a, d"])
    assert vocabulary == (UNK, "a", "b", ",", "c", "d")
    assert build_vocabulary(["a, d", "a b", "b a c"]) == vocabulary
    assert build_vocabulary(["b a c", "a b", "a d"], min_count=2) == (UNK, "a", "b")
    assert build_vocabulary(["A a"]) == (UNK, "a")  # lower-cased


@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_round_trip(kind):
    spec = text_spec("caption", kind, 24, CAPTIONS)
    tokenizer = tokenizer_for(spec)
    ids, truncated = tokenizer.encode(CAPTIONS, 24)
    assert ids.dtype == torch.int64 and ids.shape == (len(CAPTIONS), 24) and not any(truncated)
    assert tokenizer.decode(ids) == CAPTIONS  # exact: the captions are already normalised
    messy = ["  Grinning   face with big eyes ; happy ,smile "]
    expected = {
        TextEncoderKind.LEARNED: "grinning face with big eyes; happy, smile",
        TextEncoderKind.WORDLLAMA: "Grinning face with big eyes ; happy ,smile",
    }
    assert tokenizer.decode(tokenizer.encode(messy, 24)[0]) == [expected[kind]]


def test_learned_ids_round_trip_exactly_and_unknown_words_are_unk():
    tokenizer = WordTokenizer(build_vocabulary(CAPTIONS))
    ids, _ = tokenizer.encode(["a purple seven", "thin, thick; right!"], 6)
    assert ids[0, 1].item() == 0 and tokenizer.decode(ids)[0] == f"a {UNK} seven"
    assert torch.equal(tokenizer.encode(tokenizer.decode(ids), 6)[0], ids)


@pytest.mark.parametrize("kind", list(TextEncoderKind))
def test_empty_caption_is_the_null_and_truncation_is_flagged(kind):
    tokenizer = tokenizer_for(text_spec("caption", kind, 4, CAPTIONS))
    ids, truncated = tokenizer.encode(["", "   ", "a thin three", CAPTIONS[0]], 4)
    assert is_null(ids).tolist() == [True, True, False, False]
    assert (ids[:2] == PAD).all() and tokenizer.decode(ids[:2]) == ["", ""]
    assert truncated == [False, False, False, True]
    assert CAPTIONS[0].startswith(tokenizer.decode(ids[3:])[0])  # the head is kept
    assert (ids[3] != PAD).all()


def test_tokenizer_for_picks_by_encoder_and_refuses_bad_specs():
    assert isinstance(tokenizer_for(text_spec("c", "wordllama", 8)), WordLlamaTokenizer)
    assert isinstance(tokenizer_for(text_spec("c", "learned", 8, CAPTIONS)), WordTokenizer)
    with pytest.raises(ConfigError, match="unknown text encoder 'clip'"):
        tokenizer_for(ConditionSpec("c", ConditionKind.TOKENS, 8, encoder="clip"))
    with pytest.raises(ConfigError, match="not text tokens"):
        tokenizer_for(ConditionSpec("c", ConditionKind.VECTOR, 8, encoder="learned"))
    with pytest.raises(ConfigError, match="needs a vocabulary"):
        tokenizer_for(ConditionSpec("c", ConditionKind.TOKENS, 8, encoder="learned"))
    with pytest.raises(ConfigError, match="needs training captions"):
        text_spec("c", "learned", 8, [])
    with pytest.raises(ConfigError, match="starts with"):
        WordTokenizer(("a", UNK))


def test_learned_vocabulary_survives_the_spec_round_trip():
    spec = text_spec("caption", "learned", 8, CAPTIONS)
    again = ConditionSpec.from_dict(spec.to_dict())
    ids = tokenizer_for(spec).encode(CAPTIONS, 8)[0]
    assert torch.equal(tokenizer_for(again).encode(CAPTIONS, 8)[0], ids)
