"""trigen :class:`DiT` ⇄ diffusers ``DiTTransformer2DModel``: exact weight translation.

The two compute the same function for adaLN-Zero DiTs with mlp ratio 4, with one difference:
diffusers' DiT builds its 256-d timestep features with ``downscale_freq_shift=1`` (frequencies
``10⁴^(-i/127)``) where the official DiT and trigen use ``10⁴^(-i/128)`` (shift 0); both put
cos before sin (``flip_sin_to_cos=True``). The shift is hard-coded in diffusers, so an exported
model matches trigen exactly at t = 0 and only approximately elsewhere, unless
:func:`use_official_timestep_frequencies` is applied after loading it (it sets the shift to 0
in every block). A diffusers DiT trained by diffusers carries the other frequencies: imported
into trigen it runs with trigen's, a small change of its timestep input.

diffusers also keeps a copy of the timestep/label embedders in every block (trigen shares one):
they are written identically and must be identical on import. Its MLP LayerNorm uses
``norm_eps`` (1e-5 by default; exported as 1e-6, the official value trigen uses).
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor, nn

from trigen.errors import ConfigError
from trigen.interop.common import require
from trigen.interop.renaming import Pairs, QkvPairs, load_exactly, to_ours, to_theirs
from trigen.models.dit import LN_EPS, Conditioning, DiT, DiTConfig

CLASS_NAME = "DiTTransformer2DModel"
DIFFUSERS_MLP_RATIO = 4  # diffusers' FeedForward width is fixed at 4·D in this model
_EMBEDDERS = (
    ("t_embedder.mlp.0", "norm1.emb.timestep_embedder.linear_1"),
    ("t_embedder.mlp.2", "norm1.emb.timestep_embedder.linear_2"),
    ("y_embedder.embedding_table", "norm1.emb.class_embedder.embedding_table"),
)
_REQUIRED = {  # diffusers option → the value trigen's DiT computes with
    "norm_type": "ada_norm_zero",
    "activation_fn": "gelu-approximate",
    "norm_elementwise_affine": False,
    "attention_bias": True,
    "upcast_attention": False,
}


def _names(depth: int) -> tuple[Pairs, QkvPairs]:
    pairs = [
        ("x_embedder.proj", "pos_embed.proj"),
        ("final_layer.adaLN_modulation.1", "proj_out_1"),
        ("final_layer.linear", "proj_out_2"),
    ]
    qkv = []
    for n in range(depth):
        b, d = f"blocks.{n}.", f"transformer_blocks.{n}."
        pairs += [(ours, d + theirs) for ours, theirs in _EMBEDDERS]
        pairs += [
            (b + "adaLN_modulation.1", d + "norm1.linear"),
            (b + "attn.proj", d + "attn1.to_out.0"),
            (b + "mlp.fc1", d + "ff.net.0.proj"),
            (b + "mlp.fc2", d + "ff.net.2"),
        ]
        qkv.append((b + "attn.qkv", tuple(d + f"attn1.to_{p}" for p in "qkv")))
    return pairs, qkv


def dit_diffusers_config(cfg: DiTConfig) -> dict[str, Any]:
    """The ``DiTTransformer2DModel`` config equal to ``cfg``, or a ConfigError saying why not."""
    if cfg.conditioning is not Conditioning.ADALN_ZERO:
        raise ConfigError(
            f"diffusers' DiTTransformer2DModel only has adaLN-Zero blocks; this DiT uses "
            f"{cfg.conditioning.value!r} conditioning and cannot be exported"
        )
    if cfg.mlp_ratio != DIFFUSERS_MLP_RATIO:
        raise ConfigError(
            f"diffusers' DiTTransformer2DModel has MLP ratio 4; this DiT has {cfg.mlp_ratio}"
        )
    return {
        "num_attention_heads": cfg.heads,
        "attention_head_dim": cfg.hidden // cfg.heads,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "num_layers": cfg.depth,
        "sample_size": cfg.input_size,
        "patch_size": cfg.patch_size,
        "num_embeds_ada_norm": cfg.num_classes,
        "norm_eps": LN_EPS,
        "dropout": 0.0,
        **_REQUIRED,
    }


def dit_to_diffusers(net: DiT) -> nn.Module:
    """A ``DiTTransformer2DModel`` (eval mode, CPU float32) holding ``net``'s weights exactly.

    Call it as ``model(x, timestep=t, class_labels=y).sample``; in training mode diffusers drops
    labels at random (its own CFG dropout), so keep it in eval mode to compare.
    """
    diffusers = require("diffusers")
    model = diffusers.DiTTransformer2DModel(**dit_diffusers_config(net.cfg))
    pairs, qkv = _names(net.cfg.depth)
    state = {k: v.detach().float().cpu() for k, v in net.state_dict().items()}
    model.load_state_dict(to_theirs(state, pairs, qkv), strict=True)
    return model.eval()


def use_official_timestep_frequencies(model: nn.Module) -> nn.Module:
    """Make a diffusers DiT use the official/trigen timestep frequencies (shift 0), in place."""
    for block in model.transformer_blocks:
        block.norm1.emb.time_proj.downscale_freq_shift = 0
    return model


def dit_config_from_diffusers(config: dict[str, Any], source: str) -> DiTConfig:
    """The trigen :class:`DiTConfig` of a ``DiTTransformer2DModel`` config."""
    for key, value in _REQUIRED.items():
        if config.get(key, value) != value:
            raise ConfigError(
                f"{source}: diffusers DiT option {key}={config[key]!r} has no trigen equivalent "
                f"(trigen computes {key}={value!r})"
            )
    if config.get("norm_eps", 1e-5) != LN_EPS:
        warnings.warn(
            f"{source}: MLP LayerNorm eps {config.get('norm_eps', 1e-5)} becomes trigen's {LN_EPS}",
            stacklevel=3,
        )
    in_channels = config.get("in_channels", 4)
    out_channels = config.get("out_channels") or in_channels
    if out_channels not in (in_channels, 2 * in_channels):
        raise ConfigError(f"{source}: {out_channels} output channels for {in_channels} inputs")
    heads = config.get("num_attention_heads", 16)
    return DiTConfig(
        input_size=config.get("sample_size", 32),
        in_channels=in_channels,
        patch_size=config.get("patch_size", 2),
        hidden=heads * config.get("attention_head_dim", 72),
        depth=config.get("num_layers", 28),
        heads=heads,
        num_classes=config.get("num_embeds_ada_norm", 1000),
        learn_sigma=out_channels == 2 * in_channels,
    )


def dit_from_diffusers_state(config: dict[str, Any], state: dict[str, Tensor], source: str) -> DiT:
    """A trigen :class:`DiT` from a ``DiTTransformer2DModel`` config and state dict."""
    net = DiT(dit_config_from_diffusers(config, source))
    pairs, qkv = _names(net.cfg.depth)
    theirs = {k: v for k, v in state.items() if k != "pos_embed.pos_embed"}  # recomputed
    ours = to_ours(theirs, pairs, qkv, source)
    ours["pos_embed"] = net.pos_embed  # fixed sin-cos: the same table diffusers computes
    load_exactly(net, ours, source)
    return net.float()
