"""Datasets held in memory as uint8, the one loader by name, and a resumable batch iterator."""

from trigen.data.datasets import DatasetName, ImageDataset, load_dataset
from trigen.data.loader import BatchLoader
from trigen.data.splits import Split
from trigen.data.transforms import from_model_range, to_model_range

__all__ = [
    "BatchLoader",
    "DatasetName",
    "ImageDataset",
    "Split",
    "from_model_range",
    "load_dataset",
    "to_model_range",
]
