"""Initialise a DiT's transformer blocks from a ViT checkpoint (HF transformers or timm layout).

A ViT block and a DiT block share their attention and MLP: ``attn.qkv`` (fused; HF stores
separate query/key/value rows, concatenated here in q, k, v order), ``attn.proj``, ``mlp.fc1``
and ``mlp.fc2``. The rest does not carry over, and :class:`LoadReport` says so tensor by tensor:

- LayerNorm affines: adaLN DiT blocks have none (their scale/shift come from the condition);
  in-context and cross-attention DiTs do have them, and then they load;
- patch embedding: loads only when channels and patch size agree (an RGB ViT/16 does not fit
  a 4-channel latent DiT/2);
- positions and the class token: DiT uses fixed sin-cos positions and no class token;
- final norm, pooler and classification head: no counterpart.

Blocks load in order, ``min(ViT depth, DiT depth)`` of them. Known differences that survive
the transfer: HF ViTs use exact (erf) GELU where DiT uses the tanh approximation, and their
LayerNorm epsilon is 1e-12 (DiT 1e-6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from torch import Tensor

from trigen.errors import CheckpointError
from trigen.interop.common import (
    LoadReport,
    Skip,
    SkipReason,
    Transfer,
    apply_transfers,
    concatenated,
    find_prefix,
    read_checkpoint,
    single,
)
from trigen.models.dit import DiT


class VitLayout(StrEnum):
    """Parameter naming of the source ViT."""

    HF = "hf"  # transformers ViTModel on disk: encoder.layer.N.attention.attention.query …
    HF_V5 = "hf_v5"  # transformers ≥ 5 in memory: layers.N.attention.q_proj …
    TIMM = "timm"  # blocks.N.attn.qkv …


class _Names(NamedTuple):
    """Where block N lives in a layout, and the source names of each DiT block part."""

    block: str  # prefix of block N's names, before N
    parts: dict[str, tuple[str, ...]]  # DiT part → source part(s); q, k, v in that order

    @property
    def probe(self) -> str:
        """A name every checkpoint of this layout holds: block 0's first attention weight."""
        return f"{self.block}0.{self.parts['attn.qkv'][0]}.weight"


_NAMES: dict[VitLayout, _Names] = {
    VitLayout.HF: _Names(
        "encoder.layer.",
        {
            "attn.qkv": (
                "attention.attention.query",
                "attention.attention.key",
                "attention.attention.value",
            ),
            "attn.proj": ("attention.output.dense",),
            "mlp.fc1": ("intermediate.dense",),
            "mlp.fc2": ("output.dense",),
            "norm1": ("layernorm_before",),
            "norm2": ("layernorm_after",),
        },
    ),
    VitLayout.HF_V5: _Names(
        "layers.",
        {
            "attn.qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
            "attn.proj": ("attention.o_proj",),
            "mlp.fc1": ("mlp.fc1",),
            "mlp.fc2": ("mlp.fc2",),
            "norm1": ("layernorm_before",),
            "norm2": ("layernorm_after",),
        },
    ),
    VitLayout.TIMM: _Names(
        "blocks.",
        {
            "attn.qkv": ("attn.qkv",),
            "attn.proj": ("attn.proj",),
            "mlp.fc1": ("mlp.fc1",),
            "mlp.fc2": ("mlp.fc2",),
            "norm1": ("norm1",),
            "norm2": ("norm2",),
        },
    ),
}

# non-block source names (after the prefix) → why they are skipped; patch embed is a transfer
_OTHER_SKIPS: dict[str, SkipReason] = {
    "embeddings.cls_token": SkipReason.CLASS_TOKEN,
    "cls_token": SkipReason.CLASS_TOKEN,
    "dist_token": SkipReason.CLASS_TOKEN,
    "embeddings.position_embeddings": SkipReason.POSITIONS,
    "pos_embed": SkipReason.POSITIONS,
    "embeddings.mask_token": SkipReason.CLASS_TOKEN,
}
_HEAD_PARTS = re.compile(
    r"^(layernorm|norm|fc_norm|pooler|classifier|head|head_dist|pre_logits)(\.|$)"
)
_PATCH = {
    VitLayout.HF: "embeddings.patch_embeddings.projection",
    VitLayout.HF_V5: "embeddings.patch_embeddings.projection",
    VitLayout.TIMM: "patch_embed.proj",
}


def detect_layout(keys: list[str]) -> tuple[VitLayout, str]:
    """The layout of a ViT state dict and the prefix of its backbone (e.g. ``"vit."``)."""
    for layout, names in _NAMES.items():
        prefix = find_prefix(keys, names.probe)
        if prefix is not None:
            return layout, prefix
    raise CheckpointError(
        "not a ViT checkpoint in HF transformers or timm layout (no "
        "'encoder.layer.0.attention.attention.query.weight' or 'blocks.0.attn.qkv.weight')"
    )


def _block_transfers(
    layout: VitLayout, prefix: str, n: int, *, heads_ok: bool
) -> tuple[list[Transfer], dict[str, Skip]]:
    names = _NAMES[layout]
    src = f"{prefix}{names.block}{n}."
    transfers, skips = [], {}
    for part, source_parts in names.parts.items():
        for suffix in ("weight", "bias"):
            sources = tuple(f"{src}{s}.{suffix}" for s in source_parts)
            if part.startswith("attn") and not heads_ok:
                skips.update({s: Skip(SkipReason.HEADS) for s in sources})
                continue
            absent = SkipReason.NORM_AFFINE if part.startswith("norm") else SkipReason.SHAPE
            combine = concatenated if len(sources) > 1 else single
            transfers.append(
                Transfer(f"blocks.{n}.{part}.{suffix}", sources, combine, absent=absent)
            )
    return transfers, skips


def _patch_embed(
    net: DiT, state: Mapping[str, Tensor], patch: str, skips: dict[str, Skip]
) -> list[Transfer]:
    """Weight and bias of the patch embedding load together, or are skipped together."""
    names = [f"{patch}.{s}" for s in ("weight", "bias") if f"{patch}.{s}" in state]
    weight = state.get(f"{patch}.weight")
    target = net.x_embedder.proj.weight
    if weight is not None and weight.shape != target.shape:
        detail = f"{tuple(weight.shape)} vs x_embedder {tuple(target.shape)}"
        skips.update({n: Skip(SkipReason.PATCH_EMBED, detail) for n in names})
        return []
    return [Transfer(f"x_embedder.proj.{n.rsplit('.', 1)[1]}", (n,)) for n in names]


def _other_skips(
    state: Mapping[str, Tensor], prefix: str, block_re: re.Pattern, depth: int
) -> dict[str, Skip]:
    """Skips of blocks beyond ``depth``, class token, positions, final norm and task heads."""
    skips = {}
    for key in state:
        m = block_re.match(key)
        local = key[len(prefix) :] if key.startswith(prefix) else key
        if m and int(m.group(1)) >= depth:
            skips[key] = Skip(SkipReason.NO_TARGET, f"DiT depth {depth}")
        elif key.startswith(prefix) and local in _OTHER_SKIPS:
            skips[key] = Skip(_OTHER_SKIPS[local])
        elif not m and _HEAD_PARTS.match(local):
            skips[key] = Skip(SkipReason.HEAD)
    return skips


def init_dit_from_vit(
    net: DiT,
    checkpoint: str | Path | Mapping[str, Tensor],
    *,
    source_heads: int | None = None,
) -> LoadReport:
    """Copy a ViT's block weights into ``net`` (in place) and report what was loaded/skipped.

    ``checkpoint``: a ``save_pretrained`` directory (its ``config.json`` gives the head count), a
    ``.safetensors`` / ``.pth`` file (read with ``weights_only=True``), or a state dict.
    ``source_heads`` overrides the ViT's head count; when it differs from the DiT's, attention
    weights are skipped (a fused qkv split into other heads computes something else). A source
    tensor absent from the file (e.g. a qkv bias of a ``qkv_bias=False`` ViT) leaves the DiT's.
    """
    state, config, source = read_checkpoint(checkpoint, "ViT")
    if source_heads is None and config is not None:
        source_heads = config.get("num_attention_heads")
    notes = []
    layout, prefix = detect_layout(list(state))
    heads_ok = source_heads is None or source_heads == net.cfg.heads
    if source_heads is None:
        notes.append(f"source head count unknown; assumed equal to the DiT's ({net.cfg.heads})")
    elif not heads_ok:
        notes.append(f"ViT has {source_heads} heads, the DiT {net.cfg.heads}: attention skipped")
    block_re = re.compile(re.escape(prefix + _NAMES[layout].block) + r"(\d+)\.")
    source_depth = 1 + max(int(m.group(1)) for k in state if (m := block_re.match(k)))
    transfers: list[Transfer] = []
    skips: dict[str, Skip] = {}
    for n in range(min(source_depth, net.cfg.depth)):
        block_transfers, block_skips = _block_transfers(layout, prefix, n, heads_ok=heads_ok)
        # a missing source tensor (qkv_bias=False) leaves the target as it is
        transfers += [t for t in block_transfers if all(s in state for s in t.sources)]
        skips.update(block_skips)
    transfers += _patch_embed(net, state, f"{prefix}{_PATCH[layout]}", skips)
    skips.update(_other_skips(state, prefix, block_re, net.cfg.depth))
    if source_depth < net.cfg.depth:
        notes.append(f"ViT has {source_depth} blocks, the DiT {net.cfg.depth}: the rest keep init")
    report = apply_transfers(net, state, transfers, skips, source)
    report.notes += notes
    return report
