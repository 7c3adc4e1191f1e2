"""Which labels to sample (library and --labels) and which device to use."""

import pytest
import torch

import trigen
from trigen.cli.labels import parse_labels
from trigen.device import resolve_device
from trigen.errors import ConfigError
from trigen.sampling import class_labels


def test_class_labels_all_gives_a_row_per_class():
    assert class_labels(3, 2, "all").tolist() == [0, 0, 1, 1, 2, 2]
    assert trigen.class_labels(10, n=8, classes="all").shape == (80,)


def test_class_labels_cycle_what_they_are_given():
    assert class_labels(10, 5).tolist() == [0, 1, 2, 3, 4]
    assert class_labels(3, 5).tolist() == [0, 1, 2, 0, 1]
    assert class_labels(10, 5, [3, 1]).tolist() == [3, 1, 3, 1, 3]


def test_an_unconditional_model_gets_the_null_label_only():
    assert class_labels(0, 3).tolist() == [0, 0, 0]
    with pytest.raises(ConfigError, match="unconditional"):
        class_labels(0, 3, "all")


@pytest.mark.parametrize("classes", [[10], [], "some", [-1]])
def test_bad_classes_are_config_errors(classes):
    with pytest.raises(ConfigError):
        class_labels(10, 4, classes)


def test_cli_labels_text_means_what_the_library_means():
    assert torch.equal(parse_labels("all", 4, 2), class_labels(4, 2, "all"))
    assert torch.equal(parse_labels("3,1", 10, 5), class_labels(10, 5, [3, 1]))
    assert torch.equal(parse_labels(None, 10, 5), class_labels(10, 5))
    assert torch.equal(parse_labels("none", 0, 2), class_labels(0, 2))
    for text, num_classes in (("x,1", 10), ("12", 10), ("3", 0)):
        with pytest.raises(ConfigError):
            parse_labels(text, num_classes, 4)


def test_resolve_device_passes_devices_through_and_checks_names():
    cpu = torch.device("cpu")
    assert resolve_device(cpu) is cpu
    assert resolve_device("cpu") == cpu
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("abacus")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
