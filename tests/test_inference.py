"""Compiled inference: which calls run the compiled code, and that it computes the plain forward."""

import pytest
import torch
from torch import nn

from trigen.build import DataSpec, build_family
from trigen.config import FamilyName, TrainConfig
from trigen.inference import compile_for_inference, is_compiled_for_inference
from trigen.sampling import compile_for_sampling


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.b(torch.nn.functional.silu(self.a(x))) * scale[:, None]


class Spy:
    """Stands in for the compiled callable: counts calls, computes the plain forward."""

    def __init__(self, plain) -> None:
        self.plain, self.calls = plain, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.plain(*args, **kwargs)


def spied(net: nn.Module) -> Spy:
    compile_for_inference(net)
    spy = Spy(net.forward.plain)
    net.forward.compiled = spy  # torch.compile is lazy: nothing was compiled yet
    return spy


def test_only_no_grad_calls_of_the_first_signature_run_compiled_code():
    net = Toy()
    spy = spied(net)
    x, s = torch.randn(4, 3), torch.rand(4)
    with torch.no_grad():
        net(x, s)
        net(x + 1, s * 2)  # same shapes and dtypes, other values
        assert spy.calls == 2
        net(x[:2], s[:2])  # the last, shorter chunk
        assert spy.calls == 2
    out = net(x, s)  # a training forward keeps its graph
    assert out.requires_grad and spy.calls == 2
    with torch.inference_mode():
        net(x, s)
    assert spy.calls == 3


def test_state_dict_is_unchanged_and_compiling_twice_changes_nothing():
    net = Toy()
    keys = list(net.state_dict())
    compile_for_inference(net)
    wrapper = net.forward
    assert compile_for_inference(net) is net and net.forward is wrapper
    assert list(net.state_dict()) == keys and is_compiled_for_inference(net)
    assert not is_compiled_for_inference(Toy())


@pytest.mark.slow
def test_compiled_code_computes_the_plain_forward_and_follows_new_weights():
    net, other = Toy(), Toy()
    x, s = torch.randn(4, 3), torch.rand(4)
    compile_for_inference(net)
    with torch.no_grad():
        torch.testing.assert_close(net(x, s), net.forward.plain(x, s))
        net.load_state_dict(other.state_dict())  # weights are inputs of the code, not constants
        torch.testing.assert_close(net(x, s), other(x, s))
    assert net.forward.signature is not None  # the compiled path was the one taken


def test_compile_for_sampling_compiles_diffusion_and_leaves_autoregressive_eager():
    data = DataSpec((1, 8, 8), 10)
    dit = build_family(TrainConfig(family=FamilyName.DIT, model="DiT-T/4"), data)
    ar = build_family(TrainConfig(family=FamilyName.AR), data)
    assert compile_for_sampling(dit) and is_compiled_for_inference(dit.net)
    assert not compile_for_sampling(ar) and not is_compiled_for_inference(ar.net)
