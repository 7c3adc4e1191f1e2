"""Named conditions: specs, nulls, dropout, nested guidance (trigen.conditions)."""

from __future__ import annotations

import math

import pytest
import torch

from trigen.batch import Batch
from trigen.conditions import (
    ConditionDropout,
    ConditionKind,
    ConditionSpec,
    Guidance,
    check_conditions,
    guided,
    is_null,
)
from trigen.errors import ConfigError, DataError
from trigen.families.labels import ClassConditioning
from trigen.guidance import classifier_free_guidance

VEC = ConditionSpec("attributes", ConditionKind.VECTOR, 3, ("a", "b", "c"), (1, 2, 3), (2, 2, 2))
MAP = ConditionSpec("skeleton", ConditionKind.MAP, 1)


def conds(batch: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "attributes": torch.randn(batch, 3, generator=g),
        "skeleton": torch.randn(batch, 1, 5, 5, generator=g).sign(),
    }


def linear_fn(x, labels, c):
    """An output that is a different linear function of each condition (and of x)."""
    out = 2 * x + labels.float()[:, None]
    out = out + torch.nan_to_num(c["attributes"], nan=-7.0).sum(1, keepdim=True)
    return out + 10 * torch.nan_to_num(c["skeleton"], nan=0.5).mean((1, 2, 3))[:, None]


def test_spec_round_trip_and_normalisation_inverse():
    assert ConditionSpec.from_dict(VEC.to_dict()) == VEC
    raw = torch.tensor([[1.0, 4.0, -1.0]])
    assert torch.allclose(VEC.normalise(raw), torch.tensor([[0.0, 1.0, -2.0]]))
    assert torch.allclose(VEC.raw(VEC.normalise(raw)), raw)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="class"),
        dict(name="bad name"),
        dict(size=0),
        dict(fields=("a",)),
        dict(std=(1, 0, 1)),
    ],
)
def test_spec_refuses_bad_fields(kwargs):
    base = dict(name="v", kind="vector", size=3, fields=(), mean=(), std=())
    with pytest.raises(ConfigError):
        ConditionSpec(**{**base, **kwargs})


def test_check_conditions_nulls_absent_and_refuses_bad_input():
    checked = check_conditions({"attributes": conds()["attributes"]}, [VEC, MAP], 4, (5, 5))
    assert is_null(checked["skeleton"]).all() and not is_null(checked["attributes"]).any()
    with pytest.raises(DataError, match="not trained with condition 'colour'"):
        check_conditions({"colour": torch.zeros(4, 3)}, [VEC], 4)
    with pytest.raises(DataError, match="attributes"):
        check_conditions({"attributes": torch.zeros(4, 5)}, [VEC], 4)
    with pytest.raises(DataError, match="7×7"):
        check_conditions({"skeleton": torch.zeros(4, 1, 7, 7)}, [MAP], 4, (5, 5))
    with pytest.raises(DataError, match="float"):
        check_conditions({"skeleton": torch.zeros(4, 2, 5, 5)}, [MAP], 4, (5, 5))


def test_dropout_draws_nothing_without_named_conditions():
    g = torch.Generator().manual_seed(1)
    state = g.get_state()
    labels = torch.arange(4)
    out, c = ConditionDropout(0.5, joint=True).apply(labels, 10, {}, g)
    assert torch.equal(out, labels) and not c and torch.equal(g.get_state(), state)


def test_dropout_nulls_each_condition_on_its_own_and_all_together():
    n = 4000
    c = {"attributes": torch.zeros(n, 3), "skeleton": torch.zeros(n, 1, 2, 2)}
    labels = torch.zeros(n, dtype=torch.long)
    out, dropped = ConditionDropout(0.2, joint=True).apply(
        labels, 10, c, torch.Generator().manual_seed(0)
    )
    vec, mp, cls = is_null(dropped["attributes"]), is_null(dropped["skeleton"]), out == 10
    assert 0.25 < vec.float().mean() < 0.39  # own 0.2, joint 0.2: 1 − 0.8² = 0.36
    assert cls.float().mean() == pytest.approx(0.2, abs=0.03)
    assert (vec & ~mp).any() and (mp & ~vec).any()  # one dropped leaves the other
    assert (cls <= (vec & mp)).all()  # the joint drop takes every condition


def test_guidance_without_scales_is_one_fully_conditional_branch():
    assert Guidance().branches(["class", "attributes"]) == [
        (frozenset({"class", "attributes"}), 1.0)
    ]
    assert Guidance(scales=(("class", 1.0), ("attributes", 1.0))).branches(
        ["class", "attributes"]
    ) == [(frozenset({"class", "attributes"}), 1.0)]


def test_one_group_is_classifier_free_guidance_exactly():
    x, labels, c = torch.randn(4, 1), torch.arange(4), conds()
    out = guided(linear_fn, labels, c, 10, Guidance(3.0))(x)
    null = {k: torch.full_like(v, math.nan) for k, v in c.items()}
    cond, uncond = linear_fn(x, labels, c), linear_fn(x, torch.full_like(labels, 10), null)
    assert torch.equal(out, classifier_free_guidance(cond, uncond, 3.0))


def test_nested_guidance_follows_the_instructpix2pix_formula():
    x, labels, c = torch.randn(4, 1), torch.arange(4), conds()
    s_map, s_vec = 2.0, 4.0
    g = guided(
        linear_fn, labels, c, 10, Guidance(scales=(("skeleton", s_map), ("attributes", s_vec)))
    )
    nulled = dict(c, attributes=torch.full_like(c["attributes"], math.nan))
    e0 = linear_fn(x, labels, dict(nulled, skeleton=torch.full_like(c["skeleton"], math.nan)))
    e1 = linear_fn(x, labels, nulled)  # the map on, the vector null; the class always on
    e2 = linear_fn(x, labels, c)
    assert g.branches == 3
    assert torch.allclose(g(x), e0 + s_map * (e1 - e0) + s_vec * (e2 - e1), atol=1e-5)


def test_guidance_refuses_unknown_names_and_mixed_forms():
    with pytest.raises(ConfigError, match="'colour'"):
        Guidance(scales=(("colour", 2.0),)).branches(["class"])
    with pytest.raises(ConfigError, match="either"):
        Guidance(2.0, (("class", 2.0),))


def test_unconditional_model_refuses_guidance_in_one_line():
    conditioning = ClassConditioning(0, 0.1)
    with pytest.raises(ConfigError, match="unconditional"):
        conditioning.sampling_inputs(torch.zeros(2, dtype=torch.long), None, Guidance(2.0), (5, 5))


def test_train_inputs_of_a_class_only_model_draw_what_drop_draws():
    conditioning = ClassConditioning(10, 0.3)
    batch = Batch(torch.zeros(64, 1, 5, 5), torch.arange(64) % 10)
    a = conditioning.train_inputs(batch, torch.Generator().manual_seed(3), (5, 5))
    b = conditioning.drop(batch.labels, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b) and not a[1]


CAPTION = ConditionSpec(
    "caption", ConditionKind.TOKENS, 5, encoder="learned", vocabulary=tuple("abcde")
)


def test_a_token_condition_is_null_when_only_padding_and_drops_to_padding():
    ids = torch.tensor([[3, 1, -1, -1, -1], [-1, -1, -1, -1, -1]])
    assert is_null(ids).tolist() == [False, True]
    checked = check_conditions({}, [CAPTION], 2)
    assert checked["caption"].dtype == torch.int64 and is_null(checked["caption"]).all()
    with pytest.raises(DataError, match="int64 token ids"):
        check_conditions({"caption": torch.zeros(2, 5)}, [CAPTION], 2)
    _, dropped = ConditionDropout(0.5, joint=False).apply(
        torch.zeros(64, dtype=torch.long),
        10,
        {"caption": ids[:1].repeat(64, 1)},
        torch.Generator().manual_seed(0),
    )
    null = is_null(dropped["caption"])
    assert 0 < null.sum() < 64 and (dropped["caption"][null] == -1).all()
    assert ConditionSpec.from_dict(CAPTION.to_dict()) == CAPTION
