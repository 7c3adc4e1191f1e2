"""Compiled inference: a network's no-grad forward compiled once for one input signature.

A diffusion sampler calls its network tens of times on tensors of one shape (every step of
every full chunk), so one inductor compilation serves the whole run: fused GroupNorm/SiLU,
LayerNorm/modulation and bias epilogues instead of one kernel launch each. Measured on the
2-core CPU (``benchmarks/peers_sample.py --compile``) it pays from a few thousand images on; for a
preview grid the eager forward is faster than compiling.

Only calls without autograd (sampling, evaluation) with the signature of the first such call run
the compiled code; training forwards and other shapes (the last, shorter chunk) run the plain
forward, so nothing recompiles behind the caller's back. The weights stay inputs of the compiled
code (they are not frozen into it), so loading other weights later is safe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

_COMPILED_FLAG = "_trigen_inference_compiled"


def signature(args: tuple, kwargs: dict) -> tuple:
    """Shapes and dtypes of the tensor arguments (other arguments as they are)."""
    values = list(args) + [kwargs[k] for k in sorted(kwargs)]
    return tuple((tuple(v.shape), v.dtype) if isinstance(v, Tensor) else v for v in values)


class _CompiledForward:
    """``net.forward`` that runs compiled code for its first no-grad input signature."""

    def __init__(self, plain: Callable) -> None:
        self.plain = plain
        self.compiled = torch.compile(plain, dynamic=False)
        self.signature: tuple | None = None  # fixed by the first no-grad call

    def __call__(self, *args, **kwargs):
        if torch.is_grad_enabled():
            return self.plain(*args, **kwargs)
        sig = signature(args, kwargs)
        if self.signature is None:
            self.signature = sig
        if sig != self.signature:
            return self.plain(*args, **kwargs)
        return self.compiled(*args, **kwargs)


def compile_for_inference(net: nn.Module) -> nn.Module:
    """Compile ``net``'s no-grad forward (inductor); returns ``net`` itself, changed in place.

    The first no-grad call compiles for its input shapes and dtypes (tens of seconds to minutes
    on a small CPU; inductor caches the result on disk for later processes); later no-grad calls
    of that signature run the compiled code, every other call the plain forward. Parameter
    names, ``state_dict`` and training are unaffected. Calling it twice changes nothing.
    """
    if getattr(net, _COMPILED_FLAG, False):
        return net
    plain = net.forward  # bound to this instance
    net.forward = functools.update_wrapper(_CompiledForward(plain), plain)
    setattr(net, _COMPILED_FLAG, True)
    return net


def is_compiled_for_inference(net: nn.Module) -> bool:
    return bool(getattr(net, _COMPILED_FLAG, False))
