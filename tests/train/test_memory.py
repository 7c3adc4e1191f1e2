"""Gradient checkpointing and torch.compile: the same numbers, less memory, same checkpoints."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trigen import api
from trigen.build import DataSpec, build_family, build_network
from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.train import checkpoint as ckpt_io
from trigen.train.loop import Trainer
from trigen.train.memory import (
    enable_grad_checkpointing,
    peak_allocated_bytes,
    units,
)

from .helpers import ListLoader, fixed_images

SPEC = DataSpec((1, 8, 8), 3, ("a", "b", "c"))
TINY = {  # family → (preset, overrides): a few small units each
    "dit": ("DiT-T/4", {"depth": 2, "hidden": 32, "heads": 2}),
    "unet": ("unet-tiny", {"model_channels": 8, "num_groups": 4, "dropout": 0.2}),
    "ar": ("ar-tiny", {"width": 32, "depth": 2, "heads": 2}),
}


def tiny_net(family: str) -> nn.Module:
    preset, overrides = TINY[family]
    cfg = TrainConfig(family=family, model=preset, model_overrides=overrides)
    torch.manual_seed(0)
    return build_network(cfg, SPEC)


def loss_of(net: nn.Module, family: str) -> torch.Tensor:
    """A scalar that depends on every output of ``net``; dropout masks drawn from seed 1."""
    g = torch.Generator().manual_seed(2)
    y = torch.tensor([0, 1, 2, 3])  # includes the null class
    torch.manual_seed(1)
    if family == "ar":
        tokens = torch.randint(0, 256, (4, 63), generator=g)
        return net(tokens, y).float().logsumexp(-1).mean()
    x, t = torch.randn(4, 1, 8, 8, generator=g), torch.tensor([0.0, 250.0, 500.5, 999.0])
    return net(x, t, y).pow(2).mean()


@pytest.mark.parametrize("family", sorted(TINY))
def test_checkpointed_units_give_the_same_loss_and_gradients(family):
    plain = tiny_net(family)
    for p in plain.parameters():  # leave the zero init, so every gradient is informative
        with torch.no_grad():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = copy.deepcopy(plain)
    wrapped = enable_grad_checkpointing(ckpt)
    assert wrapped == len(units(plain)) > 0
    assert enable_grad_checkpointing(ckpt) == wrapped  # a second call wraps nothing twice
    assert ckpt.state_dict().keys() == plain.state_dict().keys()

    losses = []
    for net in (plain, ckpt):
        net.train()
        loss = loss_of(net, family)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], atol=1e-6, rtol=0)
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert p.grad is not None, name
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=0, msg=name)
    # without a graph to build (sampling, EMA), the plain forward runs
    with torch.no_grad():
        plain.eval(), ckpt.eval()
        torch.testing.assert_close(loss_of(ckpt, family), loss_of(plain, family))


def test_checkpointing_lowers_peak_memory_of_a_deeper_model():
    cfg = TrainConfig(
        family="dit", model="DiT-T/2", model_overrides={"depth": 8, "hidden": 64, "heads": 2}
    )
    spec = DataSpec((1, 16, 16), 3)
    torch.manual_seed(0)
    plain = build_network(cfg, spec)
    ckpt = copy.deepcopy(plain)
    enable_grad_checkpointing(ckpt)
    x, t, y = torch.randn(16, 1, 16, 16), torch.rand(16) * 999, torch.randint(0, 4, (16,))

    def step(net):
        return lambda: net(x, t, y).pow(2).mean().backward()

    peaks = {
        name: peak_allocated_bytes(step(net)) for name, net in [("plain", plain), ("ck", ckpt)]
    }
    assert 0 < peaks["ck"] <= peaks["plain"]
    # eight blocks' activations are kept as eight block inputs: well under half
    assert peaks["ck"] < 0.5 * peaks["plain"]


def test_a_network_without_units_is_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match="grad_checkpointing"):
        enable_grad_checkpointing(nn.Linear(2, 2))


def _run(tmp_path, **options) -> Trainer:
    cfg = TrainConfig(
        family="dit",
        model="DiT-T/4",
        model_overrides={"depth": 2, "hidden": 32, "heads": 2},
        batch_size=4,
        lr=1e-2,
        warmup_images=0,
        max_steps=2,
        checkpoint_every=100,
        **options,
    )
    torch.manual_seed(0)
    family = build_family(cfg, SPEC)
    loader = ListLoader(fixed_images(), cfg.batch_size)
    trainer = Trainer(family, loader, cfg, tmp_path, meta={"data": SPEC.to_dict()})
    trainer.run()
    return trainer


def test_a_checkpointed_run_trains_the_weights_of_a_plain_one(tmp_path):
    plain = _run(tmp_path / "plain")
    ckpt = _run(tmp_path / "ckpt", grad_checkpointing=True)
    for name, value in plain.net.state_dict().items():
        torch.testing.assert_close(ckpt.net.state_dict()[name], value, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_compiled_run_checkpoints_plain_names_and_loads_uncompiled(tmp_path):
    trainer = _run(tmp_path, compile=True)
    saved = ckpt_io.load(tmp_path / "checkpoints")
    plain_keys = tiny_net("dit").state_dict().keys()
    for file in ("model.safetensors", "ema.safetensors"):
        assert saved.tensors[file].keys() == plain_keys  # no "_orig_mod." prefixes
    loaded = api.load(tmp_path, ema=False)
    x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([1.0, 10.0, 500.0, 900.0]), torch.arange(4)
    # the compiled training graph itself (same shapes and mode: no recompilation); DiT has no
    # dropout, so train mode computes what eval mode does
    compiled_out = trainer.net(x, t, y).detach()
    with torch.no_grad():
        torch.testing.assert_close(loaded.family.net(x, t, y), compiled_out, atol=1e-5, rtol=0)
