"""Transfer and interoperability: official DiT checkpoints, ViT → DiT and GPT-2 → AR
initialisation, and diffusers export/import.

Every checkpoint is read as data only (safetensors, or ``torch.load(weights_only=True)``).
diffusers and transformers are optional (``pip install 'trigen[interop]'``); only exporting to
diffusers needs them. Names are imported lazily, so ``import trigen.interop`` stays cheap.
"""

from trigen.lazy import lazy_exports

_EXPORTS = {
    "LoadReport": "trigen.interop.common",
    "SkipReason": "trigen.interop.common",
    "load_official_dit": "trigen.interop.dit_official",
    "dit_from_official_state_dict": "trigen.interop.dit_official",
    "init_dit_from_vit": "trigen.interop.vit",
    "init_ar_from_gpt2": "trigen.interop.gpt2",
    "to_diffusers": "trigen.interop.diffusers_export",
    "export_to_diffusers": "trigen.interop.diffusers_export",
    "import_from_diffusers": "trigen.interop.diffusers_export",
    "use_official_timestep_frequencies": "trigen.interop.diffusers_dit",
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
