"""``trigen compare --text-encoder wordllama|learned`` (issue 27): the choice reaches every
family's training config, the report's header names it, and a bad value is one line, exit 2.
The results file of a run outside a git checkout has no commit, and the run does not fail."""

from __future__ import annotations

import json
from functools import partial

import pytest
import typer

from trigen.cli import main
from trigen.compare.training import train_config
from trigen.config import TEXT_ENCODERS, TrainConfig
from trigen.errors import ConfigError
from trigen.experiment import run
from trigen.experiment.settings import compare_settings
from trigen.measure import evaluators
from trigen.provenance import code_commit

from ..reliability.helpers import assert_one_line_error
from .stand_ins import BandFeatures


def test_the_default_is_the_training_default_and_the_choice_reaches_every_family():
    assert compare_settings("demo").text_encoder == TrainConfig.text_encoder
    for encoder in TEXT_ENCODERS:
        s = compare_settings("smoke", conditions=("text",), text_encoder=encoder)
        for name in s.families:
            assert train_config(name, s, conditions=s.conditions).text_encoder == encoder, name
    with pytest.raises(ConfigError, match="unknown text encoder 'clip'"):
        compare_settings("smoke", text_encoder="clip")


def test_the_option_reaches_the_comparison_s_settings(tmp_path, monkeypatch):
    seen = []

    def stop(settings, *args, **kwargs):  # the settings the comparison would run with
        seen.append(settings)
        raise typer.Exit(0)

    monkeypatch.setattr(run, "run_compare", stop)
    argv = ["compare", "--preset", "smoke", "--conditions", "text", "--out", str(tmp_path)]
    assert main([*argv, "--text-encoder", "learned"]) == 0
    assert main(argv) == 0
    assert [s.text_encoder for s in seen] == ["learned", TrainConfig.text_encoder]


def test_a_bad_text_encoder_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["compare", "--preset", "smoke", "--text-encoder", "clip", "--out", str(tmp_path)])
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err, "text encoder", "wordllama", "learned")
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_a_learned_encoder_run_outside_a_checkout(tmp_path, monkeypatch, capsys):
    """Captions learned from scratch by every family; the package taken as an installed copy."""
    loose = tmp_path / "site-packages" / "trigen"
    loose.mkdir(parents=True)
    (loose / "__init__.py").write_text("")
    monkeypatch.setattr(run, "code_commit", partial(code_commit, loose))
    monkeypatch.setenv("TRIGEN_CACHE", str(tmp_path / "trigen-cache"))
    monkeypatch.setattr(evaluators, "InceptionFeatures", BandFeatures)
    out = tmp_path / "cmp"
    argv = ["compare", "--preset", "smoke", "--families", "unet", "--images", "32"]
    argv += ["--reference-images", "16", "--fid-samples", "8", "--studies", "", "--claims", "none"]
    argv += ["--conditions", "text", "--text-encoder", "learned", "--device", "cpu"]
    argv += ["--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["text_encoder"] == "learned" and "commit" not in results["meta"]
    trained = json.loads((out / "unet" / "config.json").read_text())["config"]
    assert trained["text_encoder"] == "learned" and trained["conditions"] == ["text"]
    assert "- text_encoder: learned" in (out / "report.md").read_text().splitlines()
