"""Trading compute for memory and speed: gradient checkpointing and torch.compile.

A network names its repeated units with a class attribute ``unit_types`` (DiT and AR transformer
blocks, U-Net ResBlocks and attention blocks). Gradient checkpointing recomputes each unit's
activations in backward instead of keeping them; FSDP shards parameters unit by unit
(:mod:`trigen.train.distributed`). Both leave parameter names, and so checkpoints, unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from trigen.errors import ConfigError
from trigen.eval.memory import peak_allocated_bytes

__all__ = [
    "compile_in_place",
    "enable_grad_checkpointing",
    "peak_allocated_bytes",  # lives in trigen.eval.memory; re-exported for existing callers
    "units",
]

UNIT_TYPES_ATTR = "unit_types"  # class attribute: tuple of the network's repeated module types
_WRAPPED_FLAG = "_trigen_checkpointed"


def units(net: nn.Module) -> list[nn.Module]:
    """The repeated units of ``net`` (instances of ``type(net).unit_types``), in module order.

    Raises ConfigError for a network that declares none (e.g. a test's toy network).
    """
    types = getattr(net, UNIT_TYPES_ATTR, None)
    if not types:
        raise ConfigError(
            f"{type(net).__name__} declares no repeated units ({UNIT_TYPES_ATTR}); "
            "gradient checkpointing and FSDP need them: turn grad_checkpointing/fsdp off"
        )
    return [m for m in net.modules() if isinstance(m, types)]


def _checkpointed_forward(module: nn.Module, forward: Callable, *args, **kwargs):
    # Only a training forward that builds a graph gains from recomputation; sampling, EMA and
    # eval forwards (no grad, or a KV cache being filled) run the plain forward.
    if module.training and torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def enable_grad_checkpointing(net: nn.Module) -> int:
    """Make every unit of ``net`` recompute its activations in backward; returns their number.

    The unit's ``forward`` is replaced on the instance, so parameter names and hooks (FSDP's
    all-gather around the unit) stay as they are; calling it twice changes nothing. RNG state is
    restored for the recomputation (torch's default), so dropout draws the same mask and
    losses and gradients equal the plain network's.
    """
    found = units(net)
    for module in found:
        if getattr(module, _WRAPPED_FLAG, False):
            continue
        plain = module.forward  # bound to this instance
        module.forward = functools.partial(_checkpointed_forward, module, plain)
        setattr(module, _WRAPPED_FLAG, True)
    return len(found)


def compile_in_place(net: nn.Module) -> nn.Module:
    """``net`` with its forward compiled by torch.compile (inductor); returns ``net`` itself.

    ``nn.Module.compile`` compiles the call in place instead of wrapping the module in an
    ``OptimizedModule``, so ``state_dict`` keys carry no ``_orig_mod.`` prefix and checkpoints,
    EMA and optimizer see the same parameters as without compile.
    """
    net.compile()
    return net
