"""State dicts of a network sharded by FSDP2 (:meth:`~trigen.train.distributed.DistContext.shard`)
as one process would have them: whole tensors gathered to rank 0 for a checkpoint, and whole
tensors loaded back into each rank's shard, so checkpoints look the same with or without
sharding. For an unsharded network every function here is the plain state_dict call."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trigen.errors import CheckpointError


def is_sharded(net: nn.Module) -> bool:
    """True when ``net`` was sharded by :meth:`DistContext.shard` (FSDP2)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(net, FSDPModule)


def full_tensor(t: Tensor) -> Tensor:
    """The whole tensor behind a DTensor shard (a collective: every rank calls it); any other
    tensor unchanged."""
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def _full_options(**kwargs):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def full_state_dict(net: nn.Module) -> dict[str, Tensor]:
    """``net``'s state_dict as whole tensors, as one process would have it.

    For a sharded ``net`` this is a collective: every rank calls it, rank 0 receives the full
    tensors on CPU and the other ranks an empty dict. Otherwise ``net.state_dict()``.
    """
    if not is_sharded(net):
        return net.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(net, options=_full_options(cpu_offload=True))


def load_full_state_dict(net: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Load whole tensors (a checkpoint's) into ``net``, sharded or not; every rank passes the
    full dict and keeps its slice. A mismatch raises CheckpointError."""
    from trigen.train.checkpoint import load_weights

    if not is_sharded(net):
        load_weights(net, tensors, source)
        return
    own = net.state_dict()  # DTensors report their global shapes
    if own.keys() != tensors.keys() or any(own[k].shape != tensors[k].shape for k in own):
        raise CheckpointError(
            f"{source} belongs to another model or configuration (names or shapes differ); "
            "check --model/--family or use the checkpoint's own config"
        )
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(net, tensors, options=_full_options())


def _param_names(net: nn.Module, opt: torch.optim.Optimizer) -> list[str]:
    """Names of the optimizer's parameters in its own order (the index of a one-process
    optimizer state_dict)."""
    names = {id(p): n for n, p in net.named_parameters()}
    return [names[id(p)] for group in opt.param_groups for p in group["params"]]


class FullOptimizerView:
    """``opt`` as one process sees it: ``state_dict`` / ``load_state_dict`` in the one-process
    layout (integer parameter indices, whole tensors), whether ``net`` is sharded or not.

    For a sharded ``net`` both are collectives. ``state_dict`` gathers to rank 0; other ranks
    get an empty state. ``load_state_dict`` takes the whole state on every rank.
    """

    def __init__(self, net: nn.Module, opt: torch.optim.Optimizer) -> None:
        self.net, self.opt = net, opt

    def state_dict(self) -> dict:
        if not is_sharded(self.net):
            return self.opt.state_dict()
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        net, opt = self.net, self.opt
        by_name = get_optimizer_state_dict(net, opt, options=_full_options(cpu_offload=True))
        if "state" not in by_name:  # ranks > 0 receive nothing
            return {"state": {}, "param_groups": []}
        index = {name: i for i, name in enumerate(_param_names(net, opt))}
        groups = [{**g, "params": [index[n] for n in g["params"]]} for g in by_name["param_groups"]]
        state = {index[name]: entry for name, entry in by_name["state"].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        if not is_sharded(self.net):
            self.opt.load_state_dict(sd)
            return
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        names = _param_names(self.net, self.opt)
        by_name = {
            "state": {names[int(i)]: entry for i, entry in sd["state"].items()},
            "param_groups": [
                {**g, "params": [names[int(i)] for i in g["params"]]} for g in sd["param_groups"]
            ],
        }
        set_optimizer_state_dict(self.net, self.opt, by_name, options=_full_options())
