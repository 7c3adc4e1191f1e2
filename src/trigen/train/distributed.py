"""Data-parallel training over torch.distributed: one process per device, launched by torchrun.

:class:`DistContext` says which process this is (rank, world size, local rank, backend) and
wraps the few collectives the trainer needs. A single process is the same code path with
``world_size == 1``: every collective is then a no-op, so nothing else branches on it.

Conventions the trainer follows with N ranks:

- ``batch_size`` is the GLOBAL batch: each rank takes ``batch_size // world_size`` images per
  optimizer step (and ``// grad_accum`` per micro-batch), from a rank-disjoint shard of the data.
- The network is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` only for the loss
  (gradients are averaged over ranks during backward); checkpoints hold the unwrapped module's
  state_dict, so they look exactly like single-process ones.
- With ``fsdp`` the network is instead sharded in place by FSDP2 (:meth:`DistContext.shard`):
  each rank holds 1/N of every parameter, gradient and optimizer moment, all-gathered unit by
  unit for forward and backward and reduce-scattered (averaged) after it. Checkpoints are still
  full state dicts, gathered to rank 0 (:mod:`trigen.train.sharded_state`), so an FSDP
  checkpoint loads in one process and a one-process checkpoint resumes under FSDP.
- Noise differs per rank (its generator is seeded with ``seed + 1 + rank``); the weights are
  identical on every rank, and only rank 0 logs and writes checkpoints.

The process group is set up from torchrun's environment (``env://``); only the CLI reads that
environment and hands the numbers down as arguments. Leaving the group frees it
(:meth:`DistContext.close`): a group that outlives its session keeps its backend's threads
running into the C++ exit, where they can abort a finished rank ("terminate called without an
active exception").
"""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.distributed as dist
from torch import nn

from trigen.errors import ConfigError, TrigenError

ENV_INIT = "env://"  # torchrun publishes MASTER_ADDR / MASTER_PORT for this init method


class TeardownError(TrigenError):
    """A rank finished its work but could not leave the process group cleanly."""


def _import_group_capturing_modules() -> None:
    """Import, before any group exists, the torch modules whose functions take ``group.WORLD``
    as a default argument: imported later (DDP and FSDP import them lazily), they would keep the
    default group alive in those defaults for the life of the process."""
    import torch.distributed.nn.functional  # noqa: F401


def _drop_cached_meshes() -> None:
    """Empty DTensor's process-wide caches of sharding plans: their entries hold DTensorSpecs,
    each its DeviceMesh, and so the mesh's process group, for the life of the process (FSDP2
    parameters fill them). A no-op when DTensor was never imported."""
    if "torch.distributed.tensor" not in sys.modules:
        return
    # private torch APIs (2.13): each step is skipped where a torch version lacks it; the
    # weak-reference check in ``close`` then says whether the group was still freed
    with suppress(ImportError, AttributeError):
        from torch.distributed.tensor._collective_utils import MeshTopoInfo

        MeshTopoInfo.build_from_mesh.cache_clear()
    with suppress(ImportError, AttributeError):
        from torch.distributed.tensor import _redistribute

        _redistribute.clear_redistribute_planner_cache()
        _redistribute._gen_transform_infos.cache_clear()
    with suppress(ImportError, AttributeError):
        from torch.distributed.tensor import debug

        debug._clear_sharding_prop_cache()  # the Python and the C++ fast-path propagation caches
    with suppress(ImportError, AttributeError):
        from torch.distributed.tensor._sharding_prop import ShardingPropagator

        ShardingPropagator._propagate_tensor_meta_cached.cache_clear()


class Backend(StrEnum):
    """torch.distributed backends trigen uses: gloo for CPU tensors, nccl for CUDA tensors."""

    GLOO = "gloo"
    NCCL = "nccl"

    @classmethod
    def for_device(cls, device: torch.device) -> Backend:
        return cls.NCCL if device.type == "cuda" else cls.GLOO


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a data-parallel job; ``DistContext()`` is one process.

    ``backend`` None means "the one the device needs" (see :meth:`on`).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Backend | None = None

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise ConfigError(
                f"need 0 <= rank < world_size and local_rank >= 0, got rank {self.rank}, "
                f"world_size {self.world_size}, local_rank {self.local_rank}: launch with torchrun"
            )
        if self.backend is not None:
            object.__setattr__(self, "backend", Backend(self.backend))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, writes checkpoints and talks to the user."""
        return self.rank == 0

    # ------------------------------------------------------------------------ lifetime
    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: ``cuda`` becomes ``cuda:<local_rank>``."""
        if device.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return device

    def on(self, device: torch.device) -> DistContext:
        """This context with its backend fixed for ``device`` (gloo on CPU, nccl on CUDA)."""
        backend = self.backend or Backend.for_device(device)
        return DistContext(self.rank, self.world_size, self.local_rank, backend)

    def init(self, device: torch.device, init_method: str = ENV_INIT) -> None:
        """Join the process group (a no-op for one process or when already joined)."""
        if not self.distributed or dist.is_initialized():
            return
        backend = self.backend or Backend.for_device(device)
        if backend is Backend.NCCL and device.type != "cuda":
            raise ConfigError("the nccl backend needs CUDA devices; use gloo on CPU")
        if device.type == "cuda":
            torch.cuda.set_device(device)  # nccl addresses the current device of each rank
        _import_group_capturing_modules()
        dist.init_process_group(
            backend.value, init_method=init_method, rank=self.rank, world_size=self.world_size
        )

    def close(self) -> None:
        """Leave the process group this context joined, and free it.

        ``destroy_process_group`` only forgets the group; its backend (gloo's worker and socket
        threads, rank 0's TCPStore server thread; nccl's watchdog) lives until the last
        reference goes. A reference that lives on past this call keeps those threads running
        into the C++ exit, where they race the static destructors and can abort a rank that
        finished its work. So the caches torch keeps of the group are emptied first, and a
        group still alive afterwards is reported in one warning (the work is complete; on
        another torch version a new cache may hold it), not raised: the run did succeed.
        """
        if not (self.distributed and dist.is_initialized()):
            return
        group = weakref.ref(dist.group.WORLD)
        _drop_cached_meshes()
        dist.destroy_process_group()
        gc.collect()  # DDP and FSDP modules sit in reference cycles that hold the group
        if group() is not None:
            warnings.warn(
                f"rank {self.rank} finished its work and everything it writes is complete, "
                "but its process group is still referenced after leaving it and this process "
                f"may abort at exit (torch {torch.__version__}); please report it",
                RuntimeWarning,
                stacklevel=2,
            )

    @contextmanager
    def session(self, device: torch.device, init_method: str = ENV_INIT) -> Iterator[None]:
        """``with ctx.session(device):`` — joined inside, left and freed afterwards even on error.

        On the way out without an error the ranks first meet at a barrier, so no rank tears its
        connections down while a peer still works (rank 0 writing a file after the last
        collective); after an error there is no barrier: a peer may be gone for good. A rank
        that fails after the barrier has done all its work: :class:`TeardownError` says so.
        """
        joined_here = self.distributed and not dist.is_initialized()
        self.init(device, init_method)
        try:
            yield
        except BaseException:
            if joined_here:
                with suppress(Exception):  # the work's own error is the one to report
                    self.close()
            raise
        if not joined_here:
            return
        dist.barrier()
        try:
            self.close()
        except Exception as err:  # e.g. a peer that vanished after the barrier
            raise TeardownError(
                f"rank {self.rank} finished its work and everything it writes is complete, "
                f"but leaving the process group failed: {err}"
            ) from None

    # ------------------------------------------------------------------------ batch & model
    def local_batch(self, batch_size: int, grad_accum: int = 1) -> int:
        """Images one rank feeds through one forward, given the GLOBAL ``batch_size``."""
        if batch_size % (grad_accum * self.world_size):
            raise ConfigError(
                f"batch_size {batch_size} (the global batch) must be divisible by grad_accum "
                f"{grad_accum} × {self.world_size} processes; change --batch-size"
            )
        return batch_size // (grad_accum * self.world_size)

    def noise_seed(self, seed: int) -> int:
        """Seed of this rank's loss generator: ranks draw different noise for their shards."""
        return seed + 1 + self.rank

    def wrap(self, net: nn.Module) -> nn.Module:
        """``net`` in DistributedDataParallel when there are several ranks, else ``net`` itself.

        DDP broadcasts rank 0's weights and buffers at construction, so every rank starts equal.
        """
        if not self.distributed:
            return net
        device = next(net.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(net, device_ids=ids)

    def broadcast_module(self, net: nn.Module) -> None:
        """Copy rank 0's parameters and buffers into ``net`` on every rank (in place).

        DDP does this itself; FSDP does not, so :meth:`shard` callers start from it.
        """
        if not self.distributed:
            return
        with torch.no_grad():
            for tensor in net.state_dict().values():
                dist.broadcast(tensor, src=0)

    def shard(self, net: nn.Module, units: list[nn.Module]) -> None:
        """Shard ``net`` in place with FSDP2: each of ``units`` is one all-gather group, the
        root holds the rest. Parameters become DTensors with the same names and global shapes.

        A no-op for one process. The weights must already agree across ranks
        (:meth:`broadcast_module`): each rank keeps its own slice of what it holds.
        """
        if not self.distributed:
            return
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        device = next(net.parameters()).device
        mesh = init_device_mesh(device.type, (self.world_size,))
        for unit in units:
            fully_shard(unit, mesh=mesh)
        fully_shard(net, mesh=mesh)

    # ------------------------------------------------------------------------ collectives
    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The average of a tensor over ranks (the tensor itself for one process)."""
        if not self.distributed:
            return value
        out = value.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def all_agree(self, flag: bool, device: torch.device) -> bool:
        """True only if ``flag`` holds on every rank; all ranks get the same answer, so
        decisions such as "stop now" (a signal, a wall-clock budget) never split the ranks."""
        if not self.distributed:
            return flag
        t = torch.tensor([int(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def from_main(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's value of ``flag`` on every rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([int(flag)], device=device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def gather_states(self, state: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
        """Every rank's equally shaped tensor (e.g. an RNG state), in rank order, on CPU.

        ``device`` is where the collective runs (CUDA for nccl); no pickling is involved.
        """
        if not self.distributed:
            return [state.cpu()]
        local = state.to(device)
        states = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(states, local)
        return [s.cpu() for s in states]


SINGLE = DistContext()
