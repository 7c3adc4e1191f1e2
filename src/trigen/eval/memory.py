"""Peak memory of tensor allocations: what a call allocates and holds at once, operator by operator.

The process RSS mixes in the allocator's cache, the interpreter and whatever else the process did
before, so a small call can read 0 MB; CUDA's ``max_memory_allocated`` does not exist on CPU. This
counts tensor storages instead: a dispatch mode sees every storage an operator creates, and a weak
reference with a callback on each storage says when it is freed, so the running total is exact to
one operator on any device and independent of the allocator and of other processes.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode


def _storages(tree: object) -> list[torch.UntypedStorage]:
    """Storages of the dense tensors in a pytree (sparse, meta and storage-less ones skipped)."""
    found = []
    for t in pytree.tree_leaves(tree):
        if isinstance(t, torch.Tensor) and t.layout is torch.strided and t.device.type != "meta":
            try:
                found.append(t.untyped_storage())
            except (RuntimeError, NotImplementedError):  # tensor subclasses without a storage
                continue
    return found


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of the storages that operators created while the mode was active and that are alive.

    ``bytes`` is the current total, ``peak`` its maximum. A storage counts when an operator returns
    it and it is not one of that operator's inputs' storages (a view of a parameter or of the
    caller's input is not an allocation); it stops counting when it is freed (a weak-reference
    callback, so each operator costs a few dictionary operations, however many tensors are alive).
    Storages that existed before the mode (parameters, inputs, an earlier ``.grad``) never count.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[weakref.ref, int]] = {}  # id(storage) → (ref, bytes)
        self.bytes = self.peak = 0

    def _freed(self, key: int) -> None:
        _, size = self.live.pop(key, (None, 0))
        self.bytes -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        new = [s for s in _storages(out) if id(s) not in self.live]
        if new:
            inputs = {id(s) for s in _storages((args, kwargs))}
            for storage in new:
                key = id(storage)  # the Python storage object lives as long as the storage
                if key in inputs or key in self.live:
                    continue
                ref = weakref.ref(storage, lambda _, k=key: self._freed(k))
                self.live[key] = (ref, storage.nbytes())
                self.bytes += storage.nbytes()
            self.peak = max(self.peak, self.bytes)
        return out


def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes of tensor storage that ``fn()`` allocates and holds at once (forward
    activations, gradients, temporaries), not counting tensors that existed before the call.

    Works under ``torch.inference_mode``/``no_grad`` and through ``backward``: in a training step
    the parameters' new gradients count (zero them with ``set_to_none=True`` inside ``fn`` so that
    they are allocated there), the parameters do not. Exact to one operator; the allocator's
    rounding and cache are not included. Adds a few microseconds per operator.
    """
    with LiveTensorBytes() as mode:
        fn()
    return mode.peak
