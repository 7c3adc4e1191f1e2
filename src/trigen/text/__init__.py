"""Text conditions: tokenizers and text encoders behind one interface.

A caption condition is a :class:`~trigen.conditions.ConditionSpec` of kind ``tokens`` whose
``encoder`` is ``"wordllama"`` (frozen pretrained embeddings) or ``"learned"`` (a vocabulary
learned from the training captions, kept in ``spec.vocabulary``). :func:`tokenizer_for` turns
captions into ids padded with PAD (the empty caption is the null); :func:`build_text_encoder`
turns ids into :class:`TextStates` (hidden states, mask, pooled vector) of a model's width.
"""

from trigen.text.encoder import (
    LearnedTextEncoder,
    TextEncoder,
    TextStates,
    WordLlamaTextEncoder,
    build_text_encoder,
)
from trigen.text.tokenizer import (
    UNK,
    TextEncoderKind,
    TextTokenizer,
    WordLlamaTokenizer,
    WordTokenizer,
    build_vocabulary,
    text_spec,
    tokenizer_for,
)

__all__ = [
    "UNK",
    "LearnedTextEncoder",
    "TextEncoder",
    "TextEncoderKind",
    "TextStates",
    "TextTokenizer",
    "WordLlamaTextEncoder",
    "WordLlamaTokenizer",
    "WordTokenizer",
    "build_text_encoder",
    "build_vocabulary",
    "text_spec",
    "tokenizer_for",
]
