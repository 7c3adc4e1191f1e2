import json

import pytest
import torch

from trigen.errors import CheckpointError
from trigen.train import checkpoint as ckpt_io


def make(step: int) -> ckpt_io.Checkpoint:
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3) + step
    return ckpt_io.Checkpoint(
        config={"lr": 1e-3},
        step=step,
        images_seen=step * 8,
        tensors={
            "model.safetensors": {"w": w},
            "ema.safetensors": {"w": w * 2},
            "optim.safetensors": {},
            "rng.safetensors": {"cpu": torch.get_rng_state()},
        },
        extra={"loader": {"epoch": 1}},
    )


def test_round_trip(tmp_path):
    path = ckpt_io.save(make(5), tmp_path)
    loaded = ckpt_io.load(path)
    assert (
        loaded.step == 5 and loaded.images_seen == 40 and loaded.extra == {"loader": {"epoch": 1}}
    )
    assert torch.equal(
        loaded.tensors["model.safetensors"]["w"], make(5).tensors["model.safetensors"]["w"]
    )
    assert torch.equal(loaded.tensors["rng.safetensors"]["cpu"], torch.get_rng_state())


def test_no_temporary_left_and_prune_keeps_newest(tmp_path):
    for step in (1, 2, 3, 4):
        ckpt_io.save(make(step), tmp_path)
    ckpt_io.prune(tmp_path, keep=2)
    assert [p.name for p in tmp_path.iterdir()] and all(
        not p.name.startswith(".") for p in tmp_path.iterdir()
    )
    assert [p.name for p in ckpt_io.list_checkpoints(tmp_path)] == [
        "step-00000003",
        "step-00000004",
    ]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "state"])
def test_damaged_checkpoint_is_detected_and_skipped(tmp_path, damage):
    ckpt_io.save(make(1), tmp_path)
    newest = ckpt_io.save(make(2), tmp_path)
    target = newest / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "delete":
        target.unlink()
    else:
        (newest / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        ckpt_io.load(newest)
    warnings = []
    assert ckpt_io.latest_valid(tmp_path, warn=warnings.append).name == "step-00000001"
    assert len(warnings) == 1 and "step-00000002" in warnings[0]
    assert ckpt_io.load(tmp_path).step == 1  # a directory resolves to its newest valid checkpoint


def test_foreign_json_is_refused(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(CheckpointError, match="not written by trigen"):
        ckpt_io.load(tmp_path)


def test_load_weights_rejects_other_model():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(CheckpointError, match="another model"):
        ckpt_io.load_weights(net, {"weight": torch.zeros(4, 3), "bias": torch.zeros(2)}, "ckpt")
    with pytest.raises(CheckpointError, match="1 missing"):
        ckpt_io.load_weights(net, {"weight": torch.zeros(2, 3)}, "ckpt")


def test_the_checkpoint_module_answers_which_step_and_whether_newest(tmp_path):
    from trigen.errors import CheckpointError
    from trigen.train.checkpoint import is_newest, step_of

    assert step_of(tmp_path / "step-00000120") == 120
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        step_of(tmp_path / "best")
    for step in (10, 20):
        (tmp_path / f"step-{step:08d}").mkdir()
    assert is_newest(tmp_path / "step-00000020", 20)
    assert not is_newest(tmp_path / "step-00000010", 10)  # a newer one exists
    assert not is_newest(tmp_path / "step-00000020", 21)  # the run went on past it
    assert not is_newest(None, 0)
