"""Prompts as strings → a model's text condition: what ``trigen sample --prompt`` and
:func:`trigen.api.sample` (``prompts=``) feed the network.

A prompt longer than the condition's context (its ``size`` in tokens) is cut to its first tokens
with a warning that names what was kept, as CLIP's and T5's pipelines truncate; refusing would
make a long prompts file fail on one line. An empty prompt is the null caption: sampling it is
unconditional along the text, which only a model trained with condition dropout (> 0) has learned;
for a model trained without it the empty prompt is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from trigen.conditions import PAD, ConditionKind, ConditionSpec
from trigen.errors import ConfigError


def prompt_tokens(
    prompts: Sequence[str],
    specs: Sequence[ConditionSpec],
    *,
    dropout: float,
    repeat: int = 1,
    warn: Callable[[str], None] = lambda line: None,
) -> dict[str, Tensor]:
    """``{name: (len(prompts)·repeat, L) token ids}`` of the model's (first) text condition:
    each prompt ``repeat`` times in a row. ``dropout`` is the model's training condition dropout
    (an empty prompt needs it > 0). One-line ConfigError for a model without a text condition
    and for an empty prompt it cannot sample."""
    from trigen.text import tokenizer_for

    if isinstance(prompts, str):
        raise TypeError("prompts is a sequence of strings, not one string")
    texts = [s for s in specs if s.kind is ConditionKind.TOKENS]
    if not texts:
        raise ConfigError("a prompt needs a model trained with a text condition; this one has none")
    spec = texts[0]
    tokenizer = tokenizer_for(spec)
    ids, truncated = tokenizer.encode(list(prompts), spec.size)
    empty = (ids == PAD).all(dim=1)
    if dropout == 0 and bool(empty.any()):
        which = repr(prompts[int(empty.nonzero()[0])])
        raise ConfigError(
            f"prompt {which} has no tokens: it is the null caption, which this model never "
            "trained (label_dropout 0); give it a caption"
        )
    kept = tokenizer.decode(ids)
    for prompt, cut, text in zip(prompts, truncated, kept, strict=True):
        if cut:
            warn(f"prompt {prompt[:40]!r}… is longer than {spec.size} tokens: kept {text!r}")
    return {spec.name: ids.repeat_interleave(repeat, dim=0)}
