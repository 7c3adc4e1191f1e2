"""Random ``trigen train`` command lines never end in a traceback: either a clean exit or one
error line. A missing data root is appended to every command line, so nothing ever trains."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigen.config import TrainConfig

from .helpers import error_lines, run_cli

VALUE_OPTIONS = (
    "--family",
    "--model",
    "--dataset",
    "--data-root",
    "--resolution",
    "--batch-size",
    "--lr",
    "--steps",
    "--images",
    "--minutes",
    "--precision",
    "--seed",
    "--out",
    "--device",
)
FLAGS = ("--resume", "--no-resume", "--sample-grid", "--no-sample-grid", "--help")
NAMES = ("dit", "unet", "ar", "pixelcnn", "vq", "mnist", "folder", "idx", "cifar10", "cpu", "bf16")
SETTINGS = (
    *(f.name for f in dataclasses.fields(TrainConfig)),
    "diffusion.schedule",
    "diffusion.prediction",
    "diffusion.min_snr_gamma",
    "model_overrides.depth",
    "nonsense",
)
# argv can hold any text but NUL (C strings end there).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
SCALARS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(NAMES),
    st.sampled_from(("true", "false", "[1, 2]", "{depth = 1}", "'x'", "nan", "-inf", "")),
    TEXT,
)
OVERRIDES = st.tuples(st.sampled_from(SETTINGS), SCALARS).map(lambda kv: f"{kv[0]}={kv[1]}")


def config_files(root):
    """--config values: a missing file, one that is not TOML, one with an unknown setting."""
    (root / "bad.toml").write_text("lr = = 1\n")
    (root / "unknown.toml").write_text("colour = 'red'\n")
    (root / "ok.toml").write_text("lr = 0.001\nmax_steps = 2\n")
    return st.sampled_from([str(root / n) for n in ("missing.toml", "bad.toml", "unknown.toml")])


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_train_command_lines(capsys, tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)  # relative paths in random tokens name nothing that exists
    clauses = st.one_of(
        st.tuples(st.sampled_from(VALUE_OPTIONS), SCALARS),
        st.tuples(st.just("--set"), OVERRIDES),
        st.tuples(st.just("--config"), config_files(tmp_path)),
        st.tuples(st.sampled_from(FLAGS)),
        st.tuples(st.sampled_from(VALUE_OPTIONS)),  # an option missing its value
        st.tuples(TEXT),
    )
    argv = [token for clause in data.draw(st.lists(clauses, max_size=5)) for token in clause]
    missing = tmp_path / "no-such-data"
    out = tmp_path / "out"
    fixed = ["--dataset", "folder", "--data-root", str(missing), "--resolution", "8"]
    # Appended last, so they win over any random value of the same option.
    code, text = run_cli(capsys, "train", *argv, *fixed, "--out", str(out))
    assert isinstance(code, int)
    assert "Traceback" not in text
    if code == 0:
        assert "--help" in argv and "Usage" in text
    else:
        assert len(error_lines(text)) == 1, text
    assert not (out / "checkpoints").exists()
