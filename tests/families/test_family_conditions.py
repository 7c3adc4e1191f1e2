"""Families with named conditions: training, sampling, guidance identities, storage (issue 25)."""

from __future__ import annotations

import math

import pytest
import torch

from trigen.batch import Batch
from trigen.build import DataSpec, build_family
from trigen.conditions import ConditionKind, ConditionSpec, is_null
from trigen.config import TrainConfig
from trigen.data.datasets import ImageDataset
from trigen.data.loader import BatchLoader
from trigen.errors import ConfigError
from trigen.families.base import SampleSpec

SPECS = (
    ConditionSpec("attributes", ConditionKind.VECTOR, 2, ("thickness", "slant"), (2, 0), (1, 1)),
    ConditionSpec("skeleton", ConditionKind.MAP, 1),
)
SPEC = DataSpec((1, 8, 8), 3, ("a", "b", "c"), SPECS)
TINY = {"depth": 1, "hidden": 32, "heads": 2}


def family(name: str = "dit"):
    torch.manual_seed(0)
    overrides = TINY if name == "dit" else {}
    cfg = TrainConfig(family=name, conditions=("attributes", "skeleton"), model_overrides=overrides)
    fam = build_family(cfg, SPEC, "cpu")
    with torch.no_grad():  # open every zero-initialised path, so conditions matter
        for p in fam.net.parameters():
            p[p == 0] = torch.randn(int((p == 0).sum())) * 0.05
    return fam


def conds(n: int = 4):
    g = torch.Generator().manual_seed(2)
    return {
        "attributes": torch.randn(n, 2, generator=g),
        "skeleton": torch.randn(n, 1, 8, 8, generator=g).sign(),
    }


@pytest.mark.parametrize("name", ["dit", "unet"])
def test_a_conditioned_family_trains_and_its_gradient_reaches_every_condition(name):
    fam = family(name)
    batch = Batch(torch.rand(4, 1, 8, 8) * 2 - 1, torch.arange(4) % 3, conds())
    fam.loss(batch, torch.Generator().manual_seed(0)).mean().backward()
    touched = [
        n for n, p in fam.net.named_parameters() if "vector" in n or "map" in n or "hint" in n
    ]
    assert touched and all(fam.net.get_parameter(n).grad is not None for n in touched)


def sample(fam, spec: SampleSpec, c=None):
    return fam.sample(torch.arange(4) % 3, spec, torch.Generator().manual_seed(5), conds=c)


def test_guidance_at_scale_one_equals_conditional_sampling():
    fam, c = family(), conds()
    plain = sample(fam, SampleSpec(steps=3), c)
    assert torch.equal(sample(fam, SampleSpec(steps=3, cfg=1.0), c), plain)
    nested = SampleSpec(steps=3, guidance=(("skeleton", 1.0), ("class", 1.0), ("attributes", 1.0)))
    assert torch.equal(sample(fam, nested, c), plain)
    guided = SampleSpec(steps=3, guidance=(("skeleton", 3.0),))
    assert not torch.allclose(sample(fam, guided, c), plain)


def test_an_absent_condition_is_its_null_and_the_conditions_matter():
    fam, c = family(), conds()
    null = dict(c, skeleton=torch.full_like(c["skeleton"], math.nan))
    absent = {"attributes": c["attributes"]}
    assert torch.equal(
        sample(fam, SampleSpec(steps=3), null), sample(fam, SampleSpec(steps=3), absent)
    )
    assert not torch.allclose(
        sample(fam, SampleSpec(steps=3), c), sample(fam, SampleSpec(steps=3), absent)
    )


def test_dropping_one_condition_in_training_leaves_the_others():
    fam = family()
    n = 2000
    batch = Batch(torch.zeros(n, 1, 8, 8), torch.zeros(n, dtype=torch.long), conds(n))
    _, dropped = fam.conditioning.train_inputs(batch, torch.Generator().manual_seed(0), (8, 8))
    vec, mp = is_null(dropped["attributes"]), is_null(dropped["skeleton"])
    assert (vec & ~mp).any() and (mp & ~vec).any()
    kept = ~mp
    assert torch.equal(dropped["skeleton"][kept], batch.conds["skeleton"][kept])


def test_the_data_spec_stores_the_conditions_and_old_runs_load():
    assert DataSpec.from_dict(SPEC.to_dict()) == SPEC
    old = {"image_shape": [1, 8, 8], "num_classes": 3, "class_names": ["a", "b", "c"]}
    assert DataSpec.from_dict(old).conditions == ()
    assert "conditions" not in DataSpec((1, 8, 8), 3, ("a", "b", "c")).to_dict()


def test_the_loader_flips_a_map_with_its_image_and_refuses_flip_with_vectors():
    images = torch.zeros(8, 1, 4, 4, dtype=torch.uint8)
    images[:, :, :, 0] = 255  # a stroke on the left edge, and the same stroke as the map
    data = ImageDataset(
        images, torch.zeros(8, dtype=torch.long), 1, ["x"], "t", {"m": images.clone()}
    )
    batch = next(iter(BatchLoader(data, 8, seed=0, flip=True)))
    assert torch.equal(batch.images, batch.conds["m"])
    data.conds["v"] = torch.zeros(8, 2)
    with pytest.raises(ConfigError, match="flip"):
        BatchLoader(data, 8, seed=0, flip=True)


TINY_TOKENS = {"depth": 1, "width": 32, "heads": 2}
EVERY = {
    "unet": {},
    "dit": TINY,
    "ar": TINY_TOKENS,
    "maskgit": TINY_TOKENS,
    "pixelcnn": {},
}


@pytest.mark.parametrize("name", list(EVERY))
def test_every_generator_family_builds_trains_and_samples_with_conditions(name):
    torch.manual_seed(0)
    cfg = TrainConfig(
        family=name, conditions=("attributes", "skeleton"), model_overrides=EVERY[name]
    )
    fam = build_family(cfg, SPEC, "cpu")
    batch = Batch(torch.rand(2, 1, 8, 8) * 2 - 1, torch.arange(2), conds(2))
    fam.loss(batch, torch.Generator().manual_seed(0)).mean().backward()
    spec = SampleSpec(steps=2, guidance=(("skeleton", 2.0),))
    images = fam.sample(torch.arange(2), spec, torch.Generator().manual_seed(1), conds=conds(2))
    assert images.shape == (2, 1, 8, 8) and images.abs().max() <= 1


CAPTION = ConditionSpec(
    "caption", ConditionKind.TOKENS, 5, encoder="learned", vocabulary=("<unk>", "a", "thin", "7")
)
TEXT_SPEC = DataSpec((1, 8, 8), 3, ("a", "b", "c"), (CAPTION,))


TEXT_CASES = {name: (name, overrides) for name, overrides in EVERY.items()} | {
    f"dit-{mode}": ("dit", TINY | {"text_injection": mode})
    for mode in ("tokens", "joint", "pooled")
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_every_generator_family_trains_and_samples_from_captions(case):
    torch.manual_seed(0)
    name, overrides = TEXT_CASES[case]
    cfg = TrainConfig(family=name, model_overrides=overrides)
    fam = build_family(cfg, TEXT_SPEC, "cpu")
    ids = torch.tensor([[1, 2, 3, -1, -1], [3, -1, -1, -1, -1]])
    batch = Batch(torch.rand(2, 1, 8, 8) * 2 - 1, torch.arange(2), {"caption": ids})
    fam.loss(batch, torch.Generator().manual_seed(0)).mean().backward()
    embed = [p for n, p in fam.net.named_parameters() if n.endswith("token_embed.weight")]
    assert len(embed) == 1 and embed[0].grad is not None  # (zero behind a zero-init output)
    unreached = [n for n, p in fam.net.named_parameters() if p.requires_grad and p.grad is None]
    assert not unreached, unreached  # a parameter no loss reaches would stop a DDP job
    spec = SampleSpec(steps=2, guidance=(("caption", 2.0),))
    with torch.no_grad():
        images = fam.sample(
            torch.arange(2), spec, torch.Generator().manual_seed(1), conds={"caption": ids}
        )
        empty = {"caption": torch.full_like(ids, -1)}
        same = [
            fam.sample(
                torch.arange(2), SampleSpec(steps=2), torch.Generator().manual_seed(1), conds=c
            )
            for c in (empty, None)
        ]
    assert images.shape == (2, 1, 8, 8)
    assert torch.equal(same[0], same[1])  # the empty caption is the null, as an absent one
