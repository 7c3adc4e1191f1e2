"""parse_choice: every member parses from its value; anything else is a one-line ConfigError."""

from enum import StrEnum

import pytest

from trigen.choices import parse_choice
from trigen.errors import ConfigError


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


def test_members_parse_from_their_values_and_themselves():
    for member in Colour:
        assert parse_choice(Colour, member.value, "colour") is member
        assert parse_choice(Colour, member, "colour") is member


def test_an_unknown_name_is_a_config_error_listing_the_choices():
    with pytest.raises(ConfigError) as err:
        parse_choice(Colour, "blue", "colour")
    message = str(err.value)
    assert "\n" not in message and "unknown colour 'blue'" in message
    assert all(member.value in message for member in Colour)
