"""state_mismatch: names the missing, unexpected and mis-shaped tensors; empty for an exact fit."""

import torch

from trigen.nn.state import state_mismatch


def test_an_exact_state_has_no_mismatch():
    own = torch.nn.Linear(3, 2).state_dict()
    assert not state_mismatch(own, dict(own))


def test_every_kind_of_mismatch_is_named_in_sorted_order():
    own = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    given = {"b": torch.zeros(4), "z": torch.zeros(1), "y": torch.zeros(1)}
    mismatch = state_mismatch(own, given)
    assert mismatch
    assert mismatch.missing == ["a", "c"] and mismatch.unexpected == ["y", "z"]
    assert mismatch.misshaped == ["b"]
    assert mismatch.summary() == "2 missing, 2 unexpected, 1 mis-shaped tensors, e.g. 'a'"
