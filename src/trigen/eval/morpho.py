"""The Morpho-MNIST measurements, where evaluation code has always found them.

They describe data, so they live in :mod:`trigen.data.morpho` (datasets caption and condition on
them); evaluation imports them from there.
"""

from trigen.data.morpho import (
    ATTRIBUTES,
    cached_attributes,
    cached_skeleton_maps,
    measure_attributes,
    skeleton_maps,
)

__all__ = [
    "ATTRIBUTES",
    "cached_attributes",
    "cached_skeleton_maps",
    "measure_attributes",
    "skeleton_maps",
]
