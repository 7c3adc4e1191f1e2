"""trigen :class:`UNet` ⇄ diffusers ``UNet2DModel``: exact weight translation where equivalent.

Both are ADM-style: ``scale_shift`` ResBlocks (GroupNorm → SiLU → conv, then
``norm(h)·(1 + scale) + shift`` from the summed timestep + class embedding), self-attention after
every ResBlock of chosen levels (GroupNorm, q/k/v, output projection, residual), strided-conv
downsampling, nearest ×2 + conv upsampling, skip concatenation with one extra ResBlock per
decoder level, [cos, sin] timestep features with shift 0. Module by module:

=========================  ===========================================
trigen                     diffusers
=========================  ===========================================
``t_embedder.mlp.0/2``     ``time_embedding.linear_1/2``
``y_embedder``             ``class_embedding`` (num_classes + 1 rows)
``down.i.res.j``           ``down_blocks.i.resnets.j`` (``emb_proj.1`` → ``time_emb_proj``,
                           ``skip`` → ``conv_shortcut``)
``down.i.attn.j``          ``down_blocks.i.attentions.j`` (qkv → to_q/k/v, proj → to_out.0)
``down.i.resample``        ``down_blocks.i.downsamplers.0``
``mid_res1/mid_attn/…2``   ``mid_block.resnets.0/attentions.0/resnets.1``
``up.k.*``                 ``up_blocks.k.*`` (``upsamplers.0``)
``norm_out`` ``conv_out``  ``conv_norm_out`` ``conv_out``
=========================  ===========================================

Where they are *not* equivalent, export refuses with the reason: diffusers upsamples by exactly
2 (no odd feature maps: the input side must be divisible by 2^(levels-1)); it uses one GroupNorm
group count everywhere (trigen lowers it per layer to a divisor of the channels); and one head
width for every attention layer. An unconditional trigen U-Net (num_classes 0) adds its null
label row to every timestep embedding: exported, that row is folded into
``time_embedding.linear_2.bias`` so the diffusers model needs no class labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from trigen.errors import ConfigError
from trigen.interop.common import require
from trigen.interop.renaming import Pairs, QkvPairs, load_exactly, to_ours, to_theirs
from trigen.models.unet import AttentionBlock, ResBlock, UNet, UNetConfig

CLASS_NAME = "UNet2DModel"
GROUP_NORM_EPS = 1e-5  # torch's GroupNorm default, which trigen's U-Net uses
_RES = (
    ("norm1", "norm1"),
    ("conv1", "conv1"),
    ("emb_proj.1", "time_emb_proj"),
    ("norm2", "norm2"),
    ("conv2", "conv2"),
    ("skip", "conv_shortcut"),
)
_NULL_BIAS = "time_embedding.linear_2.bias"
_REQUIRED = {  # diffusers option → the value trigen's U-Net computes with
    "resnet_time_scale_shift": "scale_shift",
    "time_embedding_type": "positional",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "center_input_sample": False,
    "act_fn": "silu",
    "downsample_type": "conv",
    "upsample_type": "conv",
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2D",
    "class_embed_type": None,
    "norm_eps": GROUP_NORM_EPS,
}

_DIFFUSERS_DEFAULTS = {**_REQUIRED, "resnet_time_scale_shift": "default"}  # of a bare config


def _names(net: UNet) -> tuple[Pairs, QkvPairs]:
    pairs: list[tuple[str, str]] = [
        ("conv_in", "conv_in"),
        ("t_embedder.mlp.0", "time_embedding.linear_1"),
        ("t_embedder.mlp.2", "time_embedding.linear_2"),
        ("y_embedder.embedding_table", "class_embedding"),
        ("norm_out", "conv_norm_out"),
        ("conv_out", "conv_out"),
    ]
    qkv: list[tuple[str, tuple[str, str, str]]] = []

    def module(ours: str, theirs: str, m: nn.Module) -> None:
        if isinstance(m, ResBlock):
            pairs.extend((f"{ours}.{a}", f"{theirs}.{b}") for a, b in _RES)
        elif isinstance(m, AttentionBlock):
            pairs.append((f"{ours}.norm", f"{theirs}.group_norm"))
            pairs.append((f"{ours}.attn.proj", f"{theirs}.to_out.0"))
            qkv.append((f"{ours}.attn.qkv", tuple(f"{theirs}.to_{p}" for p in "qkv")))

    for side, levels, resample in (
        ("down", net.down, "downsamplers"),
        ("up", net.up, "upsamplers"),
    ):
        for i, level in enumerate(levels):
            for j, (res, attn) in enumerate(zip(level.res, level.attn, strict=True)):
                module(f"{side}.{i}.res.{j}", f"{side}_blocks.{i}.resnets.{j}", res)
                module(f"{side}.{i}.attn.{j}", f"{side}_blocks.{i}.attentions.{j}", attn)
            if level.resample is not None:
                pairs.append((f"{side}.{i}.resample.conv", f"{side}_blocks.{i}.{resample}.0.conv"))
    module("mid_res1", "mid_block.resnets.0", net.mid_res1)
    module("mid_attn", "mid_block.attentions.0", net.mid_attn)
    module("mid_res2", "mid_block.resnets.1", net.mid_res2)
    return pairs, qkv


def unet_diffusers_config(net: UNet) -> dict[str, Any]:
    """The ``UNet2DModel`` config equivalent to ``net``, or a ConfigError saying why not."""
    cfg = net.cfg
    levels = len(cfg.channel_mult)
    if cfg.input_size % 2 ** (levels - 1):
        raise ConfigError(
            f"diffusers' UNet2DModel upsamples by exactly 2 and cannot restore the odd feature "
            f"maps of input size {cfg.input_size} with {levels} levels {cfg.level_sizes}; "
            f"use an input size divisible by {2 ** (levels - 1)}"
        )
    groups = {m.num_groups for m in net.modules() if isinstance(m, nn.GroupNorm)}
    if groups != {cfg.num_groups}:
        raise ConfigError(
            f"diffusers' UNet2DModel uses {cfg.num_groups} GroupNorm groups everywhere, but this "
            f"U-Net lowers them to {sorted(groups - {cfg.num_groups})} where channels are not "
            f"divisible; choose num_groups dividing every channel count"
        )
    head_dims = {b.attn.head_dim for b in net.modules() if isinstance(b, AttentionBlock)}
    if len(head_dims) > 1:
        raise ConfigError(
            f"diffusers' UNet2DModel has one attention head width; this U-Net uses "
            f"{sorted(head_dims)}; set head_channels instead of num_heads"
        )
    sizes = cfg.level_sizes
    attended = [s in cfg.attention_resolutions for s in sizes]
    return {
        "sample_size": cfg.input_size,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.net_out_channels,
        "block_out_channels": [cfg.model_channels * m for m in cfg.channel_mult],
        "layers_per_block": cfg.num_res_blocks,
        "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in attended],
        "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attended)],
        "attention_head_dim": head_dims.pop() if head_dims else cfg.model_channels,
        "add_attention": cfg.mid_attention,
        "norm_num_groups": cfg.num_groups,
        "attn_norm_num_groups": cfg.num_groups,  # else its mid attention has no GroupNorm
        "dropout": cfg.dropout,
        "num_class_embeds": cfg.num_classes + 1 if cfg.num_classes else None,
        **_REQUIRED,
    }


def unet_to_diffusers(net: UNet) -> nn.Module:
    """A ``UNet2DModel`` (eval mode, CPU float32) computing exactly what ``net`` computes.

    Call it as ``model(x, t, class_labels=y).sample`` (no labels when num_classes is 0).
    """
    diffusers = require("diffusers")
    model = diffusers.UNet2DModel(**unet_diffusers_config(net))
    pairs, qkv = _names(net)
    state = {k: v.detach().float().cpu() for k, v in net.state_dict().items()}
    theirs = to_theirs(state, pairs, qkv)
    if not net.cfg.num_classes:  # fold the constant null-label embedding into the bias
        theirs[_NULL_BIAS] = theirs[_NULL_BIAS] + theirs.pop("class_embedding.weight")[0]
    model.load_state_dict(theirs, strict=True)
    return model.eval()


def unet_config_from_diffusers(config: dict[str, Any], source: str) -> UNetConfig:
    """The trigen :class:`UNetConfig` of a ``UNet2DModel`` config, or a ConfigError."""
    for key, value in _REQUIRED.items():
        got = config.get(key, _DIFFUSERS_DEFAULTS[key])
        if got != value:
            raise ConfigError(
                f"{source}: diffusers UNet2DModel option {key}={got!r} has no trigen "
                f"equivalent (trigen computes {key}={value!r})"
            )
    channels = list(config["block_out_channels"])
    mc = channels[0]
    if any(c % mc for c in channels) or config.get("time_embedding_dim") not in (None, 4 * mc):
        raise ConfigError(f"{source}: channels {channels} are not multiples of the first")
    down, up = list(config["down_block_types"]), list(config["up_block_types"])
    kinds = {"DownBlock2D": False, "AttnDownBlock2D": True}
    if set(down) - set(kinds) or [k.replace("Up", "Down") for k in reversed(up)] != down:
        raise ConfigError(f"{source}: block types {down} / {up} have no trigen equivalent")
    group = config.get("attn_norm_num_groups")
    if config.get("add_attention", True) and group != config.get("norm_num_groups", 32):
        raise ConfigError(f"{source}: a mid attention without GroupNorm has no trigen equivalent")
    size = config.get("sample_size")
    size = size[0] if isinstance(size, list | tuple) and len(set(size)) == 1 else size
    if not isinstance(size, int):
        raise ConfigError(f"{source}: sample_size {size!r} is not one square side")
    in_ch, out_ch = config.get("in_channels", 3), config.get("out_channels", 3)
    sizes = [size]
    for _ in channels[1:]:
        sizes.append((sizes[-1] + 1) // 2)
    num_class_embeds = config.get("num_class_embeds")
    return UNetConfig(
        input_size=size,
        in_channels=in_ch,
        out_channels=None if out_ch in (in_ch, 2 * in_ch) else out_ch,
        learn_sigma=out_ch == 2 * in_ch,
        model_channels=mc,
        channel_mult=tuple(c // mc for c in channels),
        num_res_blocks=config.get("layers_per_block", 2),
        attention_resolutions=tuple(s for s, k in zip(sizes, down, strict=True) if kinds[k]),
        head_channels=config.get("attention_head_dim") or None,
        mid_attention=config.get("add_attention", True),
        dropout=config.get("dropout", 0.0),
        num_classes=num_class_embeds - 1 if num_class_embeds else 0,
        num_groups=config.get("norm_num_groups", 32),
    )


def unet_from_diffusers_state(
    config: dict[str, Any], state: dict[str, Tensor], source: str
) -> UNet:
    """A trigen :class:`UNet` from a ``UNet2DModel`` config and state dict."""
    net = UNet(unet_config_from_diffusers(config, source))
    pairs, qkv = _names(net)
    ours = to_ours(state, pairs, qkv, source)
    if not net.cfg.num_classes:  # unconditional: the null row is a zero vector, bias unchanged
        ours["y_embedder.embedding_table.weight"] = torch.zeros_like(
            net.y_embedder.embedding_table.weight
        )
    load_exactly(net, ours, source)
    return net.float()
