"""Initialise trigen's :class:`ARTransformer` from an HF GPT-2 checkpoint (GPT2LMHeadModel layout).

Both are pre-norm decoders with a fused qkv, tanh-GELU MLPs and LayerNorm ε = 1e-5. GPT-2 keeps
its projections in ``Conv1D`` modules whose weights are (in, out), the transpose of nn.Linear:

=========================  ==============================  =========================
GPT-2                      trigen                          how
=========================  ==============================  =========================
``h.N.ln_1`` / ``ln_2``    ``blocks.N.norm1`` / ``norm2``  as is
``h.N.attn.c_attn``        ``blocks.N.attn.qkv``           weight transposed
``h.N.attn.c_proj``        ``blocks.N.attn.proj``          weight transposed
``h.N.mlp.c_fc``           ``blocks.N.mlp.fc1``            weight transposed
``h.N.mlp.c_proj``         ``blocks.N.mlp.fc2``            weight transposed
``ln_f``                   ``norm``                        as is
``wte``                    ``tok_embedder``                if the vocabularies match
``lm_head`` (or tied wte)  ``head.weight``; bias zeroed    if the vocabularies match
``wpe[:seq_len]``          ``pos_embed``                   learned positions, n_positions ≥ seq_len
=========================  ==============================  =========================

Position mapping: trigen's stream position p (0 = the class token, p ≥ 1 = data token x_{p-1})
uses GPT-2's position p, so with matched vocabularies trigen on ``(x[:, :T], y)`` computes what
GPT-2 computes on ``[c, x_0, …, x_{T-1}]`` when class y's embedding row equals ``wte[c]``. GPT-2
has no class tokens: ``y_embedder`` keeps its initialisation (listed in ``not_loaded``).

:func:`export_gpt2` writes the inverse: a trigen AR transformer as a GPT2LMHeadModel
``save_pretrained`` directory (untied ``lm_head``), for the networks GPT-2 can express (learned
positions, no class bias, a zero output bias). Loading it back reproduces the logits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from trigen.atomic import atomic_write, atomic_write_text
from trigen.errors import CheckpointError, ConfigError
from trigen.interop.common import (
    LoadReport,
    Skip,
    SkipReason,
    Transfer,
    apply_transfers,
    find_prefix,
    read_checkpoint,
    single,
    transposed,
)
from trigen.models.ar_transformer import ARTransformer, Positions

_PROBE = "h.0.attn.c_attn.weight"
_CONV1D = {
    "attn.c_attn": "attn.qkv",
    "attn.c_proj": "attn.proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}
_NORMS = {"ln_1": "norm1", "ln_2": "norm2"}
_MASK_BUFFERS = ("attn.bias", "attn.masked_bias")  # stored by transformers < 4.3x
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")


def _block_transfers(prefix: str, n: int) -> list[Transfer]:
    src = f"{prefix}h.{n}."
    out = []
    for gpt, ours in _CONV1D.items():
        out.append(Transfer(f"blocks.{n}.{ours}.weight", (f"{src}{gpt}.weight",), transposed))
        out.append(Transfer(f"blocks.{n}.{ours}.bias", (f"{src}{gpt}.bias",)))
    for gpt, ours in _NORMS.items():
        out += [
            Transfer(f"blocks.{n}.{ours}.{s}", (f"{src}{gpt}.{s}",)) for s in ("weight", "bias")
        ]
    return out


def init_ar_from_gpt2(
    net: ARTransformer,
    checkpoint: str | Path | Mapping[str, Tensor],
    *,
    source_heads: int | None = None,
) -> LoadReport:
    """Copy GPT-2 weights into ``net`` (in place) and report what was loaded and skipped.

    ``checkpoint``: a ``save_pretrained`` directory (``config.json`` gives the head count and
    activation), a ``.safetensors`` / ``.bin`` file (``weights_only=True``), or a state dict.
    Blocks beyond the trigen depth are skipped; a head-count mismatch skips attention weights.
    """
    state, config, source = read_checkpoint(checkpoint, "GPT-2")
    notes: list[str] = []
    if config is not None:
        source_heads = source_heads or config.get("n_head")
        act = config.get("activation_function", "gelu_new")
        if act not in _TANH_GELU:
            notes.append(f"GPT-2 activation {act!r} differs from trigen's tanh GELU")
    prefix = find_prefix(list(state), _PROBE)
    if prefix is None:
        raise CheckpointError(f"{source} is not a GPT-2 checkpoint (no '{_PROBE}')")
    cfg = net.cfg
    block_re = re.compile(re.escape(prefix) + r"h\.(\d+)\.")
    source_depth = 1 + max(int(m.group(1)) for k in state if (m := block_re.match(k)))
    heads_ok = source_heads is None or source_heads == cfg.heads
    if source_heads is None:
        notes.append(f"source head count unknown; assumed equal to trigen's ({cfg.heads})")
    transfers: list[Transfer] = []
    skips: dict[str, Skip] = {}
    for n in range(min(source_depth, cfg.depth)):
        for tr in _block_transfers(prefix, n):
            if tr.sources[0] not in state:
                continue
            if ".attn." in tr.sources[0] and not heads_ok:
                skips[tr.sources[0]] = Skip(SkipReason.HEADS, f"{source_heads} vs {cfg.heads}")
            else:
                transfers.append(tr)
    transfers += [Transfer(f"norm.{s}", (f"{prefix}ln_f.{s}",)) for s in ("weight", "bias")]
    transfers += _embedding_transfers(net, state, prefix, skips)
    for key in state:
        m = block_re.match(key)
        if m and key[m.end() :] in _MASK_BUFFERS:
            skips[key] = Skip(SkipReason.BUFFER)
        elif m and int(m.group(1)) >= cfg.depth:
            skips[key] = Skip(SkipReason.NO_TARGET, f"trigen depth {cfg.depth}")
    if source_depth < cfg.depth:
        notes.append(f"GPT-2 has {source_depth} blocks, trigen {cfg.depth}: the rest keep init")
    if cfg.class_adaln:
        notes.append(
            "class_adaln: the blocks' adaLN-Zero gates start closed, so the GPT-2 blocks act "
            "only as training opens them"
        )
    report = apply_transfers(net, state, transfers, skips, source)
    report.notes += notes
    return report


def _embedding_transfers(
    net: ARTransformer, state: Mapping[str, Tensor], prefix: str, skips: dict[str, Skip]
) -> list[Transfer]:
    """Token table, output head and learned positions, where trigen can hold them."""
    cfg, out = net.cfg, []
    wte, wpe = f"{prefix}wte.weight", f"{prefix}wpe.weight"
    head = "lm_head.weight" if "lm_head.weight" in state else wte  # tied unless saved apart
    vocab = state[wte].shape[0] if wte in state else None
    if vocab == cfg.vocab_size:
        out.append(Transfer("tok_embedder.weight", (wte,)))
        out.append(Transfer("head.weight", (head,), single))
        # GPT-2's head has no bias: the equivalent Linear bias is zero (a constant, no source)
        out.append(Transfer("head.bias", (), lambda _: torch.zeros(cfg.vocab_size)))
    elif vocab is not None:
        detail = f"GPT-2 vocabulary {vocab} vs trigen {cfg.vocab_size}"
        skips.update({k: Skip(SkipReason.VOCAB, detail) for k in (wte, head)})
    if wpe in state:
        rows = state[wpe].shape[0]
        if cfg.positions is Positions.LEARNED and rows >= cfg.seq_len:
            out.append(Transfer("pos_embed", (wpe,), lambda t: t[0][: cfg.seq_len]))
        else:
            detail = f"{rows} learned rows; trigen has {cfg.positions.value} positions, " + (
                f"{cfg.seq_len} of them"
            )
            skips[wpe] = Skip(SkipReason.POSITIONS, detail)
    return out


GPT2_ACTIVATION = "gelu_new"  # the tanh GELU, trigen's MLP activation
GPT2_LN_EPS = 1e-5


def gpt2_state_dict(net: ARTransformer) -> dict[str, Tensor]:
    """``net``'s weights under GPT2LMHeadModel names (``transformer.h.N…``, ``lm_head``), on CPU.

    Raises ConfigError for what GPT-2 cannot hold: 2-D or rotary positions, a class bias on every
    token, a non-zero output bias (train with ``net.head.bias`` frozen at zero). The class
    embeddings (``y_embedder``) are not exported: GPT-2 has no class tokens.
    """
    cfg = net.cfg
    if cfg.positions is not Positions.LEARNED:
        raise ConfigError(f"GPT-2 has learned positions only; this net has {cfg.positions.value}")
    if cfg.class_bias:
        raise ConfigError("GPT-2 cannot add a class embedding to every token: use class_bias=False")
    if cfg.class_adaln:
        raise ConfigError("GPT-2 has no class modulation in its blocks: use class_adaln=False")
    if cfg.conditions:
        raise ConfigError("GPT-2 has no condition prefix: export a net without named conditions")
    if bool(net.head.bias.detach().ne(0).any()):
        raise ConfigError(
            "GPT-2's output head has no bias and this net's head.bias is non-zero; "
            "train with head.bias frozen at zero to export"
        )
    ours = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    out = {
        "transformer.wte.weight": ours["tok_embedder.weight"],
        "transformer.wpe.weight": ours["pos_embed"],
        "transformer.ln_f.weight": ours["norm.weight"],
        "transformer.ln_f.bias": ours["norm.bias"],
        "lm_head.weight": ours["head.weight"],
    }
    for n in range(cfg.depth):
        src, dst = f"blocks.{n}.", f"transformer.h.{n}."
        for gpt, trigen in _CONV1D.items():
            out[f"{dst}{gpt}.weight"] = ours[f"{src}{trigen}.weight"].t()  # Conv1D is (in, out)
            out[f"{dst}{gpt}.bias"] = ours[f"{src}{trigen}.bias"]
        for gpt, trigen in _NORMS.items():
            for s in ("weight", "bias"):
                out[f"{dst}{gpt}.{s}"] = ours[f"{src}{trigen}.{s}"]
    return {k: v.contiguous().clone() for k, v in out.items()}


def gpt2_config(net: ARTransformer) -> dict[str, object]:
    """The transformers ``GPT2Config`` fields (config.json) of :func:`gpt2_state_dict`'s output."""
    cfg = net.cfg
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.seq_len,
        "n_embd": cfg.width,
        "n_layer": cfg.depth,
        "n_head": cfg.heads,
        "n_inner": net.blocks[0].mlp.fc1.out_features,
        "activation_function": GPT2_ACTIVATION,
        "layer_norm_epsilon": GPT2_LN_EPS,
        "tie_word_embeddings": False,
    }


def export_gpt2(net: ARTransformer, directory: str | Path) -> Path:
    """Write ``net`` as a GPT-2 ``save_pretrained`` directory: model.safetensors + config.json.

    :func:`init_ar_from_gpt2` on the directory loads everything back except the class
    embeddings; see :func:`gpt2_state_dict` for what cannot be exported.
    """
    state, config = gpt2_state_dict(net), gpt2_config(net)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2) + "\n")
    return directory
