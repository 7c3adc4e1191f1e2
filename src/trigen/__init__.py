"""trigen: U-Net diffusion, DiT and autoregressive image generators, measured side by side.

The public names below are imported lazily, so that torch-free parts (``trigen.report``) load
without torch.
"""

from trigen.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Loaded": "trigen.api",
    "load": "trigen.api",
    "sample": "trigen.api",
    "train": "trigen.api",
    "DataSpec": "trigen.build",
    "build_family": "trigen.build",
    "FamilyName": "trigen.config",
    "Precision": "trigen.config",
    "TrainConfig": "trigen.config",
    "load_config": "trigen.config",
    "TrigenError": "trigen.errors",
    "class_labels": "trigen.sampling",
    "Family": "trigen.families.base",
    "SampleSpec": "trigen.families.base",
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
