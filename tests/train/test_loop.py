import itertools
import json
import math

import pytest
import torch

from trigen.batch import Batch
from trigen.config import TrainConfig
from trigen.errors import CheckpointError, ConfigError, TrigenError
from trigen.train import checkpoint as ckpt_io
from trigen.train.ema import EMA, ema_decay
from trigen.train.hooks import TrainHooks
from trigen.train.lock import RunLock
from trigen.train.loop import Trainer, TrainingDiverged
from trigen.train.optim import learning_rate

from .helpers import ListLoader, TinyFamily, TinyNet, fixed_images


def make_trainer(tmp_path, **overrides):
    settings = dict(
        batch_size=8,
        lr=3e-3,
        warmup_images=16,
        log_every=2,
        checkpoint_every=3,
        ema_halflife_images=64,
    )
    cfg = TrainConfig(**{**settings, **overrides})
    torch.manual_seed(0)
    family = TinyFamily(TinyNet())
    return Trainer(family, ListLoader(fixed_images(), 8 // cfg.grad_accum), cfg, tmp_path)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.net.state_dict().items()}


def test_training_reduces_loss_and_logs(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=60)
    result = trainer.run()
    assert result.step == 60 and result.images_seen == 480
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 30
    assert lines[-1]["loss"] < 0.5 * lines[0]["loss"]
    assert result.checkpoint is not None and result.checkpoint.name == "step-00000060"


@pytest.mark.parametrize("cooldown", [0.0, 0.5])
def test_resume_is_bit_identical(tmp_path, cooldown):
    # a steps budget fixes the cooldown's schedule, so it survives the interruption too
    straight = make_trainer(tmp_path / "a", max_steps=10, lr_cooldown=cooldown)
    straight.run()

    first = make_trainer(tmp_path / "b", max_steps=10, lr_cooldown=cooldown)
    first.run(TrainHooks(should_stop=lambda: first.step >= 4))  # a signal, not out of budget
    resumed = make_trainer(tmp_path / "b", max_steps=10, lr_cooldown=cooldown)
    torch.manual_seed(123)  # the global RNG must come from the checkpoint, not from here
    assert resumed.resume_latest()
    assert resumed.step == 4
    resumed.run()
    for key, value in weights(straight).items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key
    for a, b in zip(straight.ema.net.parameters(), resumed.ema.net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_lr_cooldown_decays_to_zero_over_the_last_fraction_of_the_budget(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=20, lr_cooldown=0.25, warmup_images=0, log_every=1)
    trainer.run()
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lrs) == 20
    assert lrs[:15] == [3e-3] * 15  # stable until 75 % of the budget is spent
    tail = lrs[15:]
    assert all(a > b for a, b in itertools.pairwise(tail))  # then strictly falling …
    assert tail[-1] == pytest.approx(3e-3 * (1 - 19 / 20) / 0.25)  # … linearly towards zero


@pytest.mark.parametrize("cooldown", [0.0, 0.3, 0.9])
def test_learning_rate_warms_up_holds_and_cools_down(cooldown):
    base, warmup = 1e-3, 100
    spent = [i / 50 for i in range(51)]
    curve = [learning_rate(base, 10**6, warmup, spent=s, cooldown=cooldown) for s in spent]
    assert all(a >= b for a, b in itertools.pairwise(curve))  # never rises after warm-up
    assert curve[0] == base
    assert curve[-1] == (0.0 if cooldown else base)
    stable = [lr for s, lr in zip(spent, curve, strict=True) if s <= 1 - cooldown]
    assert stable == [base] * len(stable)
    # warm-up and cooldown multiply: half-way through warm-up, half-way through the cooldown
    if cooldown:
        mid = learning_rate(base, 49, warmup, spent=1 - cooldown / 2, cooldown=cooldown)
        assert mid == pytest.approx(base / 4)


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan])
def test_lr_cooldown_must_be_a_fraction(bad):
    with pytest.raises(ConfigError, match="lr_cooldown"):
        TrainConfig(lr_cooldown=bad, max_steps=1)


class FixedBatches:
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_grad_accumulation_matches_big_batch(tmp_path):
    big = make_trainer(tmp_path / "a", max_steps=1)
    small = make_trainer(tmp_path / "b", max_steps=1, grad_accum=2)
    small.net.load_state_dict(big.net.state_dict())
    images = fixed_images(8)
    labels = torch.zeros(8, dtype=torch.long)
    big._iter = iter([Batch(images, labels)])
    small._iter = iter([Batch(images[:4], labels[:4]), Batch(images[4:], labels[4:])])
    for t in (big, small):
        t.net.drop.p = 0.0
        t.family.loss = lambda b, g, net=t.net: (net(b.images) - b.images).pow(2).flatten(1).mean(1)
        t.train_step()
    for a, b in zip(big.net.parameters(), small.net.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_nonfinite_steps_are_skipped_then_stop(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=50, max_bad_steps=3)
    before = weights(trainer)
    trainer.family.loss = lambda b, g: (
        trainer.net.out.weight.sum() * torch.full((len(b.images),), math.nan)
    )
    trainer.train_step()
    assert trainer.skipped_steps == 1
    for key, value in before.items():
        assert torch.equal(value, trainer.net.state_dict()[key])
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        trainer.run()
    assert not ckpt_io.list_checkpoints(tmp_path / "checkpoints")


def test_refuses_to_save_nonfinite_weights(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1)
    with torch.no_grad():
        trainer.net.out.weight[0, 0] = math.inf
    with pytest.raises(TrainingDiverged, match="non-finite weights"):
        trainer.save_checkpoint()


def test_budget_is_required(tmp_path):
    with pytest.raises(ConfigError, match="budget"):
        make_trainer(tmp_path)


def test_resume_refuses_other_settings(tmp_path):
    make_trainer(tmp_path, max_steps=3).run()
    other = make_trainer(tmp_path, max_steps=6, lr=1e-2)
    with pytest.raises(CheckpointError, match="lr"):
        other.resume_latest()


def test_ema_halflife_in_images():
    assert ema_decay(64, 64) == pytest.approx(0.5)
    assert ema_decay(32, 64) ** 2 == pytest.approx(0.5)
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, halflife_images=10)
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, batch_images=10)
    torch.testing.assert_close(ema.net.weight, net.weight - 0.5)  # halfway between old and new


def test_ema_halflife_ramps_up_with_images_seen():
    # early in training the half-life is capped at ratio × images seen, later the set value rules
    assert ema_decay(64, 10_000, images_seen=1280, rampup_ratio=0.05) == pytest.approx(0.5)
    assert ema_decay(64, 640, images_seen=10**6, rampup_ratio=0.05) == pytest.approx(0.5**0.1)
    assert ema_decay(64, 640, images_seen=64, rampup_ratio=None) == pytest.approx(0.5**0.1)
    decays = [ema_decay(64, 10_000, images_seen=64 * k) for k in range(1, 400)]
    assert all(a <= b for a, b in itertools.pairwise(decays))  # averages ever longer


def test_run_lock_refuses_second_holder(tmp_path):
    with (
        RunLock(tmp_path),
        pytest.raises(TrigenError, match="another trigen process"),
        RunLock(tmp_path),
    ):
        pass
    with RunLock(tmp_path):  # released after the first holder leaves
        pass


def test_a_run_that_fails_before_writing_leaves_no_directory(tmp_path):
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    kept.mkdir()
    for run_dir in (fresh, kept):
        with pytest.raises(ConfigError), RunLock(run_dir):
            raise ConfigError("bad budget")
    assert not fresh.exists()  # created by the lock, nothing written: gone
    assert kept.is_dir()  # the user's own directory stays
    with pytest.raises(ConfigError), RunLock(fresh):
        (fresh / "metrics.jsonl").write_text("{}\n")
        raise ConfigError("after a write")
    assert (fresh / "metrics.jsonl").is_file()  # something written: kept for the user to see
