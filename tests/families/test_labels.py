"""The one class-conditioning helper every conditional family uses."""

import pytest
import torch

from trigen.errors import ConfigError, DataError
from trigen.families.labels import ClassConditioning


def test_dropout_replaces_labels_by_the_null_class_at_its_rate():
    labels = torch.randint(0, 10, (20_000,))
    dropped = ClassConditioning(10, 0.3).drop(labels, torch.Generator().manual_seed(0))
    changed = dropped != labels
    assert torch.all(dropped[changed] == 10)
    assert abs(changed.float().mean().item() - 0.3) < 0.02


def test_dropout_reproduces_with_a_seed_and_consumes_the_generator_only_when_it_drops():
    labels = torch.randint(0, 10, (64,))
    cond = ClassConditioning(10, 0.3)
    a = cond.drop(labels, torch.Generator().manual_seed(1))
    assert torch.equal(a, cond.drop(labels, torch.Generator().manual_seed(1)))
    for quiet in (ClassConditioning(10, 0.0), ClassConditioning(0, 0.3)):
        g = torch.Generator().manual_seed(2)
        quiet.drop(labels, g)
        assert torch.equal(g.get_state(), torch.Generator().manual_seed(2).get_state())


def test_an_unconditional_model_sees_only_the_null_class_and_refuses_guidance():
    cond = ClassConditioning(0)
    labels = torch.tensor([3, 1, 4])
    assert torch.equal(cond.drop(labels), torch.zeros(3, dtype=torch.long))
    assert torch.equal(cond.check(labels), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ConfigError, match="unconditional"):
        cond.check(labels, cfg=2.0)


@pytest.mark.parametrize(
    "labels",
    [torch.tensor([0, 11]), torch.tensor([-1]), torch.zeros(2, 2, dtype=torch.long),
     torch.tensor([0.0, 1.0])],
)  # fmt: skip
def test_check_rejects_labels_out_of_range_or_of_the_wrong_kind(labels):
    with pytest.raises(DataError, match="labels must"):
        ClassConditioning(10).check(labels)


def test_check_admits_the_null_class_and_returns_int64():
    out = ClassConditioning(10).check(torch.tensor([0, 9, 10], dtype=torch.int32))
    assert out.dtype == torch.int64 and out.tolist() == [0, 9, 10]


@pytest.mark.parametrize("num_classes, dropout", [(-1, 0.1), (10, 1.0), (10, -0.1)])
def test_bad_settings_are_config_errors(num_classes, dropout):
    with pytest.raises(ConfigError):
        ClassConditioning(num_classes, dropout)
