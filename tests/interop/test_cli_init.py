"""`trigen train --init-gpt2` loads GPT-2 weights into the AR transformer and reports it."""

import pytest

from trigen.cli import main

transformers = pytest.importorskip("transformers")


@pytest.mark.slow
def test_train_from_gpt2_weights(tmp_path, capsys):
    config = transformers.GPT2Config(
        vocab_size=256, n_positions=128, n_embd=128, n_layer=4, n_head=4
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    code = main(
        [
            "train",
            "--family",
            "ar",
            "--model",
            "ar-tiny",
            "--resolution",
            "8",
            "--steps",
            "1",
            "--batch-size",
            "4",
            "--no-sample-grid",
            "--out",
            str(tmp_path / "run"),
            "--init-gpt2",
            str(tmp_path / "gpt2"),
        ]
    )
    text = capsys.readouterr().err
    assert code == 0, text
    assert "loaded" in text and "skipped" in text

    code = main(
        [
            "train",
            "--family",
            "dit",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "run2"),
            "--init-gpt2",
            str(tmp_path / "gpt2"),
        ]
    )
    assert code == 2 and "--family ar" in capsys.readouterr().err
