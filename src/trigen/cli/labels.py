"""``--labels`` of ``trigen sample`` / ``eval``: text → the class labels to sample."""

from __future__ import annotations

from torch import Tensor

from trigen.errors import ConfigError
from trigen.sampling import class_labels

NO_LABELS = (None, "", "null", "none")
"""What ``--labels`` may say for an unconditional model (or to take the default cycle)."""


def parse_labels(text: str | None, num_classes: int, n: int) -> Tensor:
    """``"all"`` → each class n times (a row per class); ``"3,1,4"`` → cycled to n; nothing →
    0, 1, 2, … cycled to n (:func:`trigen.sampling.class_labels`)."""
    if num_classes == 0:
        if text not in NO_LABELS:
            raise ConfigError("this model is unconditional; drop --labels")
        return class_labels(0, n)
    if text in (None, ""):
        return class_labels(num_classes, n)
    if text == "all":
        return class_labels(num_classes, n, "all")
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"--labels must be 'all' or comma-separated class indices, got {text!r}"
        ) from None
    bad = [v for v in values if not 0 <= v < num_classes]
    if not values or bad:
        raise ConfigError(f"labels must be class indices in 0..{num_classes - 1}, got {text!r}")
    return class_labels(num_classes, n, values)
