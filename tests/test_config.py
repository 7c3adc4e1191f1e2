import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigen.config import FamilyName, Precision, TrainConfig, load_config
from trigen.errors import ConfigError


def test_toml_then_values_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('family = "unet"\nlr = 0.01\n[diffusion]\nprediction = "eps"\n')
    cfg = load_config(path, ["lr=0.002", "diffusion.min_snr_gamma=2"], batch_size=32)
    assert cfg.family is FamilyName.UNET and cfg.lr == 0.002 and cfg.batch_size == 32
    assert cfg.diffusion.prediction == "eps" and cfg.diffusion.min_snr_gamma == 2.0
    assert cfg.preset == "unet-tiny"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr=nan", "lr must be"),
        ("lr=-1", "lr must be"),
        ("batch_size=0", "batch_size"),
        ("family='gan'", "unknown family"),
        ("colour=1", "unknown setting"),
        ("lr='fast'", "number"),
        ("precision='fp8'", "unknown precision"),
        ("max_steps=-3", "max_steps"),
        ("diffusion.schedule='sqrt'", "schedule"),
        ("label_dropout=1.5", "label_dropout"),
        ("batch_size=2.5", "integer"),
        ("noequals", "key=value"),
    ],
)
def test_bad_values_name_the_setting(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("lr = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(
        [
            "lr",
            "batch_size",
            "family",
            "precision",
            "max_minutes",
            "seed",
            "diffusion.prediction",
            "flip",
            "resolution",
            "unknown",
        ]
    ),
    value=st.one_of(
        st.integers(-10, 10**6), st.floats(allow_nan=True), st.text(max_size=8), st.booleans()
    ),
)
def test_fuzzed_overrides_either_validate_or_raise_config_error(key, value):
    raw = repr(value) if not isinstance(value, bool) else str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        raw = {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(value)]
    try:
        cfg = load_config(None, [f"{key}={raw}"])
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert cfg.lr > 0 and cfg.batch_size > 0
    assert isinstance(cfg.precision, Precision)


def test_python_api_strings_are_coerced_like_toml():
    cfg = TrainConfig(family="unet", precision="bf16", max_steps=3, diffusion={"prediction": "eps"})
    assert cfg.family is FamilyName.UNET and cfg.precision is Precision.BF16
    assert cfg.diffusion.prediction == "eps"
    with pytest.raises(ConfigError, match="unknown family"):
        TrainConfig(family="gan")
