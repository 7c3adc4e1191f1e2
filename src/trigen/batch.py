"""The unit of data every family consumes."""

from typing import NamedTuple

from torch import Tensor


class Batch(NamedTuple):
    """Images in [-1, 1] as float (B, C, H, W) and class indices (B,) as int64."""

    images: Tensor
    labels: Tensor
