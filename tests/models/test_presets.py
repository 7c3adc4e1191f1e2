"""The one preset mechanism and field check every model config uses."""

from dataclasses import dataclass
from enum import StrEnum

import pytest

from trigen.errors import ConfigError
from trigen.models.dit import DIT_PRESETS, DiTConfig, dit_config
from trigen.models.presets import check_field_types, from_preset, preset_fields


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, kw_only=True)
class Toy:
    size: int
    ratio: float = 1.0
    flag: bool = False
    colour: Colour = Colour.RED
    sides: tuple[int, ...] = ()
    grid: tuple[int, int] = (1, 1)
    head: int | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "toy")


def test_values_are_normalised_to_their_annotation():
    toy = Toy(size=3, ratio=2, colour="blue", sides=[4, 5], grid=[2, 3])
    assert toy.ratio == 2.0 and isinstance(toy.ratio, float)
    assert toy.colour is Colour.BLUE and toy.sides == (4, 5) and toy.grid == (2, 3)
    assert Toy(size=1, head=None).head is None and Toy(size=1, head=4).head == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [({"size": 2.5}, "toy size must be an integer"), ({"size": True}, "must be an integer"),
     ({"size": 1, "ratio": "x"}, "toy ratio must be a number"),
     ({"size": 1, "flag": 1}, "toy flag must be true or false"),
     ({"size": 1, "colour": "green"}, "unknown toy colour 'green'; choose one of: red, blue"),
     ({"size": 1, "sides": [1, 2.0]}, "toy sides must be an integer"),
     ({"size": 1, "grid": (1, 2, 3)}, "toy grid must have 2 entries"),
     ({"size": 1, "head": 1.5}, "toy head must be an integer")],
)  # fmt: skip
def test_a_wrong_field_is_one_clear_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Toy(**kwargs)


def test_from_preset_lets_overrides_win_and_keeps_data_fields_out_of_reach():
    fields = preset_fields({"p": {"size": 2, "ratio": 3.0}}, "p", "toy")
    toy = from_preset(Toy, fields, data={"size": 8}, overrides={"ratio": 0.5}, what="toy")
    assert toy.size == 8 and toy.ratio == 0.5
    with pytest.raises(ConfigError, match=r"cannot override toy field\(s\) \['size'\]"):
        from_preset(Toy, fields, data={"size": 8}, overrides={"size": 4}, what="toy")
    with pytest.raises(ConfigError, match="unknown toy preset 'q'; valid: p"):
        preset_fields({"p": {}}, "q", "toy")


def test_preset_lookup_returns_a_copy():
    fields = preset_fields(DIT_PRESETS, "DiT-S/2", "DiT")
    fields["depth"] = 99
    assert DIT_PRESETS["DiT-S/2"]["depth"] == 12


def test_every_dit_preset_builds_its_named_shape():
    for name, fields in DIT_PRESETS.items():
        cfg = dit_config(name, input_size=32, in_channels=4, num_classes=10)
        assert isinstance(cfg, DiTConfig)
        assert (cfg.depth, cfg.hidden, cfg.heads, cfg.patch_size) == (
            fields["depth"], fields["hidden"], fields["heads"], fields["patch_size"],
        )  # fmt: skip
