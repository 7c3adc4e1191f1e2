"""Prompts as strings: the library function the CLI and the Python API share (issue 26)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trigen import api
from trigen.build import DataSpec, build_family
from trigen.conditions import PAD, ConditionKind, ConditionSpec
from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec
from trigen.text import tokenizer_for
from trigen.text.prompts import prompt_tokens

CAPTION = ConditionSpec(
    "caption", ConditionKind.TOKENS, 4, encoder="learned",
    vocabulary=("<unk>", "a", "thin", "thick", "7", "3"),
)  # fmt: skip
ATTRIBUTES = ConditionSpec("attributes", ConditionKind.VECTOR, 1, ("thickness",), (0,), (1,))


def test_each_prompt_is_its_tokens_repeated_in_a_row():
    out = prompt_tokens(["a thin 7", "thick 3"], [ATTRIBUTES, CAPTION], dropout=0.1, repeat=3)
    ids = out["caption"]
    assert set(out) == {"caption"} and ids.shape == (6, 4) and ids.dtype == torch.int64
    tokenizer = tokenizer_for(CAPTION)
    assert tokenizer.decode(ids) == ["a thin 7"] * 3 + ["thick 3"] * 3


def test_a_long_prompt_is_cut_and_the_warning_names_what_was_kept():
    lines: list[str] = []
    ids = prompt_tokens(["a thin thick 7 3 a"], [CAPTION], dropout=0.1, warn=lines.append)
    assert tokenizer_for(CAPTION).decode(ids["caption"]) == ["a thin thick 7"]
    assert len(lines) == 1 and "longer than 4 tokens" in lines[0] and "'a thin thick 7'" in lines[0]
    assert (
        not prompt_tokens(["a 7"], [CAPTION], dropout=0.1, warn=lines.append)["caption"]
        .eq(PAD)
        .all()
    )
    assert len(lines) == 1  # a prompt that fits warns nothing


def test_the_empty_prompt_is_the_null_only_where_the_model_trained_one():
    ids = prompt_tokens(["", "a 7"], [CAPTION], dropout=0.1)["caption"]
    assert ids[0].eq(PAD).all() and not ids[1].eq(PAD).all()
    for empty in ("", "   "):
        with pytest.raises(ConfigError, match="never trained") as err:
            prompt_tokens(["a 7", empty], [CAPTION], dropout=0.0)
        assert "\n" not in str(err.value)


def test_a_model_without_text_refuses_prompts_and_one_string_is_not_a_list():
    with pytest.raises(ConfigError, match="text condition"):
        prompt_tokens(["a 7"], [ATTRIBUTES], dropout=0.1)
    with pytest.raises(TypeError, match="not one string"):
        prompt_tokens("a 7", [CAPTION], dropout=0.1)


def _family(dropout: float = 0.1):
    torch.manual_seed(0)
    cfg = TrainConfig(
        family="dit", label_dropout=dropout,
        model_overrides={"depth": 1, "hidden": 32, "heads": 2},
    )  # fmt: skip
    fam = build_family(cfg, DataSpec((1, 8, 8), 3, ("a", "b", "c"), (CAPTION,)), "cpu")
    with torch.no_grad():  # open the zero-initialised paths, so the caption matters
        for p in fam.net.parameters():
            p[p == 0] = torch.randn(int((p == 0).sum())) * 0.05
    return fam


def test_the_api_takes_prompts_as_strings_one_per_label_or_one_for_all():
    fam, labels, spec = _family(), torch.tensor([0, 1, 2]), SampleSpec(steps=2)
    tokenizer = tokenizer_for(CAPTION)
    per_label = ["a thin 7", "thick 3", ""]
    ids, _ = tokenizer.encode(per_label, 4)
    by_ids = api.sample(fam, labels, spec, seed=3, conds={"caption": ids})
    by_text = api.sample(fam, labels, spec, seed=3, prompts=per_label)
    assert by_text.dtype == np.uint8 and np.array_equal(by_text, by_ids)
    one = api.sample(fam, labels, spec, seed=3, prompts=["a thin 7"])
    same, _ = tokenizer.encode(["a thin 7"] * 3, 4)
    assert np.array_equal(one, api.sample(fam, labels, spec, seed=3, conds={"caption": same}))
    assert not np.array_equal(one, by_text)  # the captions steer the samples
    with pytest.raises(ConfigError, match="one per label"):
        api.sample(fam, labels, spec, prompts=["a 7", "a 3"])


def test_the_api_refuses_an_empty_prompt_to_a_model_trained_without_dropout():
    with pytest.raises(ConfigError, match="never trained"):
        api.sample(_family(dropout=0.0), torch.tensor([0]), SampleSpec(steps=2), prompts=[""])
