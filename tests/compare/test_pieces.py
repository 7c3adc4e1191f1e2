"""The pieces of a comparison on disk: settings written down and read back, the first setting
that differs, pieces recorded once and read back as JSON, global RNG state per piece."""

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

from trigen.compare import pieces as pieces_module
from trigen.compare.pieces import (
    Pieces,
    first_difference,
    open_pieces,
    settings_from_record,
    settings_record,
    stored_record,
)
from trigen.compare.settings import Study
from trigen.config import FamilyName
from trigen.errors import ConfigError, DataError
from trigen.experiment.settings import PRESETS, ExperimentSettings, compare_settings


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_reads_back_as_written(preset):
    s = dataclasses.replace(
        PRESETS[preset], studies=(Study.CFG,), families=(FamilyName.UNET, FamilyName.DIT)
    )
    record = settings_record(s, {}, "cpu")
    assert json.loads(json.dumps(record)) == record  # plain JSON
    assert settings_from_record(record["settings"], ExperimentSettings) == s


def test_the_first_differing_setting_is_named_with_both_values():
    a = settings_record(compare_settings("smoke"), {}, "cpu")
    b = settings_record(compare_settings("smoke", fid_samples=40), {}, "cpu")
    assert first_difference(a, a) is None
    assert first_difference(a, b) == ("settings.fid_samples", 20, 40)
    c = dict(a, device="cuda:0")
    assert first_difference(a, c) == ("device", "cpu", "cuda:0")
    nested = settings_record(
        dataclasses.replace(
            compare_settings("smoke"),
            claims=dataclasses.replace(compare_settings("smoke").claims, bootstrap=7),
        ),
        {},
        "cpu",
    )
    assert first_difference(a, nested)[0] == "settings.claims.bootstrap"
    assert first_difference({"x": 1}, {"x": 1, "y": 2}) == ("y", "(unset)", 2)


def test_a_piece_runs_once_and_reads_back_as_json(tmp_path):
    record = settings_record(compare_settings("smoke"), {}, "cpu")
    calls = []

    def compute():
        calls.append(1)
        return {"draw": torch.rand(()).item(), "pair": (1, 2)}

    with open_pieces(tmp_path, record, resume=False, seed=3) as pieces:
        assert not (tmp_path / "pieces").exists()  # nothing on disk before begin()
        pieces.begin()
        first = pieces.run("study/x", compute)
        assert pieces.run("study/x", compute) == first and len(calls) == 1
    assert first["pair"] == [1, 2]  # the JSON form, as a resumed run reads it
    assert stored_record(tmp_path)["settings"] == record["settings"]
    with open_pieces(tmp_path, record, resume=True, seed=3) as again:
        assert again.get("study/x") == first and again.get("study/y") is None
        # the same piece computed afresh draws the same numbers, whatever ran before it
        torch.rand(5), np.random.rand(3), random.random()
        again.start("study/x")
        assert torch.rand(()).item() == first["draw"]


def refused(out, record, *, resume: bool, match: str) -> None:
    with pytest.raises(ConfigError, match=match), open_pieces(out, record, resume=resume, seed=0):
        pass


def test_open_pieces_refuses_in_one_line(tmp_path):
    record = settings_record(compare_settings("smoke"), {}, "cpu")
    refused(tmp_path / "none", record, resume=True, match="no compare run")
    with open_pieces(tmp_path, record, resume=False, seed=0) as pieces:
        pieces.begin()
    refused(tmp_path, record, resume=False, match="already holds a compare run")
    other = settings_record(compare_settings("smoke", resolution=16), {}, "cpu")
    refused(tmp_path, other, resume=True, match="setting resolution differs .*run: 8, .*: 16")
    (tmp_path / "pieces" / "family").mkdir()
    (tmp_path / "pieces" / "family" / "unet.json").write_text("{")
    with pytest.raises(DataError, match="unreadable"):
        Pieces(tmp_path, record, resume=True, seed=0).get("family/unet")


def test_a_resumed_run_says_when_other_code_made_its_earlier_pieces(tmp_path, monkeypatch):
    record = settings_record(compare_settings("smoke"), {}, "cpu")
    monkeypatch.setattr(pieces_module, "code_commit", lambda: "abc1234")
    with open_pieces(tmp_path, record, resume=False, seed=0) as pieces:
        pieces.begin()
        assert pieces.code_change() is None  # a fresh start has nothing to compare
    assert stored_record(tmp_path)["commit"] == "abc1234"
    with open_pieces(tmp_path, record, resume=True, seed=0) as same:
        assert same.code_change() is None  # the commit is not a setting: resuming is allowed
    monkeypatch.setattr(pieces_module, "code_commit", lambda: "def5678+dirty")
    with open_pieces(tmp_path, record, resume=True, seed=0) as moved:
        note = moved.code_change()
    assert note is not None and "def5678+dirty" in note and "abc1234" in note


def test_a_resumed_run_keeps_the_command_and_date_that_began_it(tmp_path):
    record = settings_record(compare_settings("smoke"), {}, "cpu")
    began = {"command": "trigen compare --preset smoke --out x", "date": "2026-12-07T08:31:00"}
    with open_pieces(tmp_path, record, resume=False, seed=0, origin=began) as pieces:
        pieces.begin()
        assert pieces.origin() == began
    later = {"command": "trigen compare --resume --out x", "date": "2026-12-07T10:47:00"}
    with open_pieces(tmp_path, record, resume=True, seed=0, origin=later) as resumed:
        assert resumed.origin() == began  # not a setting: a different command line may resume
    run_file = tmp_path / "pieces" / "run.json"
    stored = json.loads(run_file.read_text())
    del stored["origin"]  # a run begun before run.json kept its origin
    run_file.write_text(json.dumps(stored))
    with open_pieces(tmp_path, record, resume=True, seed=0, origin=later) as old:
        assert old.origin() == {}
