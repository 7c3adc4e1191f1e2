"""A training budget in FLOPs: one image's forward and backward counted once, spent per image."""

import json

import pytest
import torch
from torch import nn

from trigen.config import TrainConfig
from trigen.errors import ConfigError
from trigen.eval.cost import count_flops
from trigen.train.flops import training_flops_per_image
from trigen.train.hooks import TrainHooks
from trigen.train.loop import Trainer

from .helpers import ListLoader, TinyFamily, TinyNet, fixed_images

BATCH = 8
CPU = torch.device("cpu")


def make_trainer(run_dir, **budget):
    cfg = TrainConfig(
        batch_size=BATCH, lr=3e-3, warmup_images=16, log_every=1, checkpoint_every=3, **budget
    )
    torch.manual_seed(0)
    return Trainer(TinyFamily(TinyNet()), ListLoader(fixed_images(), BATCH), cfg, run_dir)


def per_image() -> int:
    torch.manual_seed(0)
    family = TinyFamily(TinyNet())
    return training_flops_per_image(family, ListLoader(fixed_images(), BATCH), CPU)


def test_one_image_counts_its_forward_and_the_backward_of_the_weights():
    # TinyNet on 8×8: conv 1→4 (3×3), then conv 4→1 (1×1). The data needs no gradient, so the
    # backward is the second conv's input gradient and both convs' weight gradients.
    pixels = 8 * 8
    first, second = 2 * 9 * 4 * pixels, 2 * 4 * pixels
    assert per_image() == (first + second) + (first + 2 * second)


def test_a_batch_costs_its_size_times_one_image():
    torch.manual_seed(0)
    family = TinyFamily(TinyNet())
    batch = next(ListLoader(fixed_images(), BATCH))
    whole = count_flops(lambda: family.loss(batch).mean().backward())
    assert whole == BATCH * per_image()


def test_counting_leaves_the_loader_rng_and_gradients_as_they_were():
    class Counting(nn.Module):  # a buffer the forward moves, as a VQ codebook's statistics
        def __init__(self) -> None:
            super().__init__()
            self.net = TinyNet()
            self.register_buffer("calls", torch.zeros(()))

        def forward(self, x):
            self.calls += 1
            return self.net(x)

    family = TinyFamily(Counting())
    loader = ListLoader(fixed_images(), BATCH)
    next(loader)
    state, rng = loader.state_dict(), torch.get_rng_state()
    assert training_flops_per_image(family, loader, CPU) > 0
    assert loader.state_dict() == state and torch.equal(torch.get_rng_state(), rng)
    assert float(family.net.calls) == 0
    assert all(p.grad is None for p in family.net.parameters())


def test_training_stops_at_the_first_step_whose_flops_reach_the_budget(tmp_path):
    budget = 2.5 * BATCH * per_image()  # spent during the third step
    trainer = make_trainer(tmp_path, max_flops=budget)
    result = trainer.run()
    assert result.step == 3 and result.images_seen == 3 * BATCH
    assert result.flops_per_image == trainer.flops_per_image == per_image()
    assert result.flops == result.images_seen * result.flops_per_image >= budget
    assert (result.images_seen - BATCH) * result.flops_per_image < budget
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["flops"] for r in records] == [r["images"] * per_image() for r in records]


def test_the_flops_spent_survive_a_resumption(tmp_path):
    budget = 5.5 * BATCH * per_image()
    straight = make_trainer(tmp_path / "a", max_flops=budget)
    expected = straight.run()
    first = make_trainer(tmp_path / "b", max_flops=budget)
    first.run(TrainHooks(should_stop=lambda: first.step >= 3))  # a signal mid-budget
    resumed = make_trainer(tmp_path / "b", max_flops=budget)
    assert resumed.resume_latest() and resumed.step == 3
    result = resumed.run()
    assert (result.step, result.flops) == (expected.step, expected.flops)
    assert result.flops == 6 * BATCH * per_image()
    for key, value in straight.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key


def test_a_budget_below_one_step_is_a_one_line_error_naming_both(tmp_path):
    step = BATCH * per_image()
    with pytest.raises(ConfigError) as err:
        make_trainer(tmp_path, max_flops=step / 2)
    message = str(err.value)
    assert f"max_flops {step / 2:.3g}" in message and f"{step:.3g} FLOPs" in message
    assert "\n" not in message
    make_trainer(tmp_path, max_flops=step)  # exactly one step is a budget


@pytest.mark.parametrize("bad", [0.0, -1e12, float("nan"), float("inf")])
def test_max_flops_must_be_positive(bad):
    with pytest.raises(ConfigError, match="max_flops"):
        TrainConfig(max_flops=bad)


def test_configs_written_before_flops_budgets_still_load():
    old = TrainConfig(max_minutes=2.0).to_dict()
    del old["max_flops"]
    assert TrainConfig.from_dict(old).max_flops is None
