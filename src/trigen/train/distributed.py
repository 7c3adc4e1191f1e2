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
- Noise differs per rank (its generator is seeded with ``seed + 1 + rank``); the weights are
  identical on every rank, and only rank 0 logs and writes checkpoints.

The process group is set up from torchrun's environment (``env://``); only the CLI reads that
environment and hands the numbers down as arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.distributed as dist
from torch import nn

from trigen.errors import ConfigError

ENV_INIT = "env://"  # torchrun publishes MASTER_ADDR / MASTER_PORT for this init method


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
        dist.init_process_group(
            backend.value, init_method=init_method, rank=self.rank, world_size=self.world_size
        )

    def close(self) -> None:
        """Leave the process group this context joined."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    @contextmanager
    def session(self, device: torch.device, init_method: str = ENV_INIT) -> Iterator[None]:
        """``with ctx.session(device):`` — joined inside, left afterwards even on error."""
        joined_here = self.distributed and not dist.is_initialized()
        self.init(device, init_method)
        try:
            yield
        finally:
            if joined_here:
                self.close()

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
