"""Text → token ids and back, for a token condition (:mod:`trigen.conditions`).

Two tokenizers share one interface, :class:`TextTokenizer`:

- :class:`WordLlamaTokenizer`: the Llama 2 BPE tokenizer shipped with the frozen WordLlama
  embeddings (:mod:`trigen.text.wordllama`); case and punctuation kept, no ``<s>`` token;
- :class:`WordTokenizer`: a word-level tokenizer learned from the training captions
  (:func:`build_vocabulary`): lower-cased words and punctuation marks, ``<unk>`` for the rest.

Both collapse runs of whitespace first. A caption becomes a row of ``length`` ids padded with
``PAD``; the empty caption is a row of PAD only, the condition's null. A caption with more tokens
than ``length`` is cut to its first ``length`` tokens and reported as truncated, so the caller can
warn with what was kept (``decode`` of the row).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from enum import StrEnum

import torch
from torch import Tensor

from trigen.conditions import PAD, ConditionKind, ConditionSpec
from trigen.errors import ConfigError
from trigen.text.wordllama import load_wordllama

UNK = "<unk>"
"""The learned vocabulary's word for every word it does not know; always id 0."""
_WORD = re.compile(rf"{re.escape(UNK)}|\w+(?:'\w+)*|[^\w\s]")
"""A learned tokenizer's tokens: ``<unk>``, a word (with inner apostrophes), or one mark."""
_ATTACHED = frozenset(".,;:!?")
"""Marks written against the word before them when decoding ("happy, smile")."""


class TextEncoderKind(StrEnum):
    """The text encoders a token condition can name in ``ConditionSpec.encoder``."""

    WORDLLAMA = "wordllama"  # frozen pretrained embeddings + a trainable transformer
    LEARNED = "learned"  # a learned vocabulary and embedding + the same transformer


def encoder_kind(spec: ConditionSpec) -> TextEncoderKind:
    """``spec``'s text encoder, validated: a token condition naming a known encoder."""
    if spec.kind is not ConditionKind.TOKENS:
        raise ConfigError(f"condition {spec.name} is a {spec.kind.value}, not text tokens")
    try:
        return TextEncoderKind(spec.encoder)
    except ValueError:
        known = ", ".join(kind.value for kind in TextEncoderKind)
        raise ConfigError(
            f"condition {spec.name}: unknown text encoder {spec.encoder!r}; use one of {known}"
        ) from None


def normalise_space(text: str) -> str:
    """``text`` with leading/trailing whitespace removed and inner runs collapsed to one space."""
    return " ".join(text.split())


class TextTokenizer(ABC):
    """Captions ↔ rows of token ids. ``vocab_size``: ids run over ``0 … vocab_size − 1``."""

    vocab_size: int

    @abstractmethod
    def token_ids(self, text: str) -> list[int]:
        """The ids of ``text``'s tokens, uncut; [] for an empty (or blank) text."""

    @abstractmethod
    def decode_ids(self, ids: Sequence[int]) -> str:
        """The text of a list of ids (no PAD)."""

    def encode(self, texts: Sequence[str], length: int) -> tuple[Tensor, list[bool]]:
        """``texts`` as ids (N, length) int64 padded with PAD, and which texts were truncated
        (had more than ``length`` tokens and lost their tail)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        ids = torch.full((len(texts), length), PAD, dtype=torch.int64)
        truncated = []
        for row, text in enumerate(texts):
            tokens = self.token_ids(text)
            truncated.append(len(tokens) > length)
            tokens = tokens[:length]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
        return ids, truncated

    def decode(self, ids: Tensor) -> list[str]:
        """Rows of ids (N, L) padded with PAD → their texts; a PAD-only row → ""."""
        return [self.decode_ids([i for i in row if i != PAD]) for row in ids.tolist()]


class WordLlamaTokenizer(TextTokenizer):
    """The tokenizer of the WordLlama table: Llama 2 BPE, 32,000 ids, byte fallback (no unknown
    tokens). ``decode(encode(x))`` is ``x`` with its whitespace normalised."""

    def __init__(self) -> None:
        self.tokenizer = load_wordllama().tokenizer
        self.vocab_size = self.tokenizer.get_vocab_size()

    def token_ids(self, text: str) -> list[int]:
        text = normalise_space(text)
        if not text:
            return []
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode_ids(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def words(text: str) -> list[str]:
    """A learned tokenizer's tokens of ``text``: lower-cased words and punctuation marks."""
    return _WORD.findall(text.lower())


def build_vocabulary(
    captions: Iterable[str], *, min_count: int = 1, max_size: int | None = None
) -> tuple[str, ...]:
    """The vocabulary of a :class:`WordTokenizer` over ``captions``: ``<unk>`` first, then every
    token seen at least ``min_count`` times, most frequent first, ties in alphabetical order (so
    the same captions give the same ids in any order); at most ``max_size`` entries in all."""
    counts = Counter(token for caption in captions for token in words(caption))
    counts.pop(UNK, None)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    vocabulary = (UNK, *kept)
    return vocabulary if max_size is None else vocabulary[:max_size]


class WordTokenizer(TextTokenizer):
    """Word-level tokenizer over a learned ``vocabulary`` (``vocabulary[i]`` is id i, ``<unk>``
    id 0). ``decode(encode(x))`` is ``x`` lower-cased, one space between words and none before
    ``.,;:!?``, for a text whose words are all known."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        vocabulary = tuple(vocabulary)
        if not vocabulary or vocabulary[0] != UNK:
            raise ConfigError(f"a learned vocabulary starts with {UNK!r}; build it from captions")
        if len(set(vocabulary)) != len(vocabulary):
            raise ConfigError("a learned vocabulary lists a word twice")
        self.vocabulary = vocabulary
        self.vocab_size = len(vocabulary)
        self.index = {word: i for i, word in enumerate(vocabulary)}

    def token_ids(self, text: str) -> list[int]:
        return [self.index.get(word, 0) for word in words(text)]

    def decode_ids(self, ids: Sequence[int]) -> str:
        text = ""
        for i in ids:
            word = self.vocabulary[i]
            text += word if not text or word in _ATTACHED else " " + word
        return text


def tokenizer_for(spec: ConditionSpec) -> TextTokenizer:
    """The tokenizer of a token condition, by its ``encoder``; a learned one reads the spec's
    ``vocabulary``."""
    if encoder_kind(spec) is TextEncoderKind.WORDLLAMA:
        return WordLlamaTokenizer()
    if not spec.vocabulary:
        raise ConfigError(f"condition {spec.name}: a learned text encoder needs a vocabulary")
    return WordTokenizer(spec.vocabulary)


def text_spec(
    name: str, encoder: TextEncoderKind | str, context: int, captions: Iterable[str] = ()
) -> ConditionSpec:
    """A token condition of ``context`` tokens read by ``encoder``; a learned one takes its
    vocabulary from the training ``captions``."""
    spec = ConditionSpec(name, ConditionKind.TOKENS, context, encoder=str(encoder))
    if encoder_kind(spec) is TextEncoderKind.WORDLLAMA:
        return spec
    vocabulary = build_vocabulary(captions)
    if len(vocabulary) == 1:
        raise ConfigError(f"condition {name}: a learned text encoder needs training captions")
    return replace(spec, vocabulary=vocabulary)
