"""trigen: U-Net diffusion, DiT and autoregressive image generators under one API, measured side by side."""

from trigen.api import Loaded, load, parse_labels, sample, train
from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, Precision, TrainConfig, load_config
from trigen.errors import TrigenError
from trigen.families.base import Family, SampleSpec

__all__ = [
    "DataSpec", "Family", "FamilyName", "Loaded", "Precision", "SampleSpec", "TrainConfig",
    "TrigenError", "build_family", "load", "load_config", "parse_labels", "sample", "train",
]
__version__ = "0.1.0"
