"""Official DiT checkpoints (facebookresearch/DiT) loaded into trigen's :class:`DiT`.

The released files (``DiT-XL-2-256x256.pt``) are raw state dicts of the EMA weights; training
checkpoints are ``{"model", "ema", "opt", "args"}`` dicts. Both are read with
``torch.load(weights_only=True)`` only. trigen's DiT uses the official parameter names, so the
state dict loads as is once the architecture is read off the tensor shapes:

- ``x_embedder.proj.weight`` (D, C, p, p) → hidden D, input channels C, patch p;
- ``pos_embed`` (1, T, D) → a √T × √T token grid, input size √T · p;
- ``blocks.N.*`` → depth; ``mlp.fc1`` rows / D → mlp ratio;
- ``final_layer.linear`` rows = p² · C_out → learned σ iff C_out = 2C;
- ``y_embedder.embedding_table`` rows = num_classes + 1 (the last row is the null class).

The head count is not in any tensor shape: it comes from the DiT preset of the same width and
depth (S, B, L, XL, and trigen's T), or from ``heads=``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from torch import Tensor

from trigen.errors import CheckpointError, ConfigError
from trigen.interop.common import as_state_dict, read_tensors, torch_load_safely
from trigen.models.dit import DIT_PRESETS, DiT, DiTConfig
from trigen.nn.state import state_mismatch

Weights = Literal["ema", "model"]
"""Which weights of a training checkpoint to load: the EMA (what the paper samples with) or raw."""

ADALN_ZERO_CHUNKS = 6  # shift/scale/gate for attention and MLP: the only variant DiT released

_BLOCK = re.compile(r"blocks\.(\d+)\.")
_REQUIRED = (
    "x_embedder.proj.weight",
    "pos_embed",
    "t_embedder.mlp.0.weight",
    "y_embedder.embedding_table.weight",
    "final_layer.linear.weight",
    "final_layer.adaLN_modulation.1.weight",
)


def _shape_error(source: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source} is not an official DiT checkpoint: {what}")


def infer_dit_config(
    state: Mapping[str, Tensor], *, heads: int | None = None, source: str = "state dict"
) -> DiTConfig:
    """The adaLN-Zero :class:`DiTConfig` whose state dict has the shapes of ``state``."""
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise _shape_error(source, f"no {missing[0]!r}")
    w = state["x_embedder.proj.weight"]
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise _shape_error(source, f"x_embedder.proj.weight has shape {tuple(w.shape)}")
    hidden, in_channels, patch = w.shape[0], w.shape[1], w.shape[2]
    pos = state["pos_embed"]
    grid = math.isqrt(pos.shape[-2]) if pos.ndim == 3 else 0
    if pos.ndim != 3 or grid * grid != pos.shape[1] or pos.shape[2] != hidden:
        raise _shape_error(source, f"pos_embed {tuple(pos.shape)} is not (1, g·g, {hidden})")
    indices = {int(m.group(1)) for k in state if (m := _BLOCK.match(k))}
    depth = len(indices)
    if depth == 0 or indices != set(range(depth)):
        raise _shape_error(source, f"transformer blocks are not numbered 0..N-1: {sorted(indices)}")
    ada = state.get("blocks.0.adaLN_modulation.1.weight")
    if ada is None or ada.shape[0] != ADALN_ZERO_CHUNKS * hidden:
        raise _shape_error(source, "blocks are not adaLN-Zero (6 modulation chunks)")
    out_rows = state["final_layer.linear.weight"].shape[0]
    if out_rows not in (patch * patch * in_channels, 2 * patch * patch * in_channels):
        raise _shape_error(source, f"final_layer.linear has {out_rows} rows")
    if heads is None:
        heads = _preset_heads(hidden, depth, source)
    return DiTConfig(
        input_size=grid * patch,
        in_channels=in_channels,
        patch_size=patch,
        hidden=hidden,
        depth=depth,
        heads=heads,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / hidden,
        num_classes=state["y_embedder.embedding_table.weight"].shape[0] - 1,
        learn_sigma=out_rows == 2 * patch * patch * in_channels,
    )


def _preset_heads(hidden: int, depth: int, source: str) -> int:
    found = {
        p["heads"] for p in DIT_PRESETS.values() if (p["hidden"], p["depth"]) == (hidden, depth)
    }
    if len(found) != 1:
        raise ConfigError(
            f"{source}: no DiT preset has width {hidden} and depth {depth}, so the number of "
            "attention heads is unknown; pass heads=N"
        )
    return found.pop()


def dit_from_official_state_dict(
    state: Mapping[str, Tensor], *, heads: int | None = None, source: str = "state dict"
) -> DiT:
    """A :class:`DiT` built from ``state``'s shapes with ``state`` loaded strictly."""
    cfg = infer_dit_config(state, heads=heads, source=source)
    net = DiT(cfg)
    if mismatch := state_mismatch(net.state_dict(), state):
        raise _shape_error(source, mismatch.summary())
    net.load_state_dict(dict(state), strict=True)
    return net


def read_official_state_dict(path: str | Path, *, weights: Weights = "ema") -> dict[str, Tensor]:
    """The DiT state dict in ``path``: a raw state dict, or ``weights`` of a training checkpoint.

    ``.safetensors`` files are read directly; anything else with ``weights_only=True``.
    """
    if weights not in get_args(Weights):
        raise ConfigError(f"weights must be one of {get_args(Weights)}, got {weights!r}")
    path = Path(path)
    if path.suffix == ".safetensors":
        return read_tensors(path)
    obj = torch_load_safely(path)
    if isinstance(obj, Mapping) and "model" in obj and not isinstance(obj["model"], Tensor):
        if weights not in obj:
            raise CheckpointError(f"{path} is a training checkpoint without {weights!r} weights")
        obj = obj[weights]
    return as_state_dict(obj, str(path))


def load_official_dit(
    path: str | Path, *, weights: Weights = "ema", heads: int | None = None
) -> DiT:
    """Load an official DiT checkpoint file into a new trigen :class:`DiT` (CPU, float32).

    ``weights`` picks the EMA or raw weights of a ``{"model", "ema"}`` training checkpoint (a raw
    state dict has only one set). ``heads`` is needed only for a width/depth of no preset.
    """
    state = read_official_state_dict(path, weights=weights)
    return dit_from_official_state_dict(state, heads=heads, source=str(path)).float()
