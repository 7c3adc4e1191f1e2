"""Safe tensor reading and the load report shared by the interop loaders."""

import json

import pytest
import torch
from safetensors.torch import save_file

from trigen.errors import CheckpointError
from trigen.interop.common import (
    LoadReport,
    Skip,
    SkipReason,
    Transfer,
    apply_transfers,
    read_tensors,
    transposed,
)


def test_sharded_and_bin_directories(tmp_path):
    a, b = {"x.weight": torch.ones(2)}, {"y.weight": torch.zeros(3)}
    save_file(a, str(tmp_path / "part-1.safetensors"))
    save_file(b, str(tmp_path / "part-2.safetensors"))
    index = {"weight_map": {"x.weight": "part-1.safetensors", "y.weight": "part-2.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert read_tensors(tmp_path).keys() == {"x.weight", "y.weight"}
    binary = tmp_path / "bin"
    binary.mkdir()
    torch.save(a, binary / "pytorch_model.bin")
    assert torch.equal(read_tensors(binary)["x.weight"], a["x.weight"])


def test_unreadable_sources(tmp_path):
    with pytest.raises(CheckpointError, match="holds no weights file"):
        read_tensors(tmp_path)
    torch.save({"nested": {"w": torch.ones(1)}}, tmp_path / "nested.pt")
    with pytest.raises(CheckpointError, match="not a flat state dict"):
        read_tensors(tmp_path / "nested.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        read_tensors(tmp_path / "bad.safetensors")


def test_apply_transfers_reports_every_source_once_and_copies_nothing_on_error():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    state = {
        "fc.weight": torch.randn(3, 2),  # Conv1D-style (in, out)
        "fc.bias": torch.randn(4),  # wrong shape
        "aux": torch.ones(1),
        "extra": torch.ones(1),
    }
    transfers = [
        Transfer("0.weight", ("fc.weight",), transposed),
        Transfer("0.bias", ("fc.bias",)),
        Transfer("9.weight", ("aux",), absent=SkipReason.NORM_AFFINE),
    ]
    report = apply_transfers(net, state, transfers, {}, "toy")
    assert torch.equal(net[0].weight, state["fc.weight"].t())
    assert report.loaded == {"0.weight": ("fc.weight",)}
    assert {k: s.reason for k, s in report.skipped.items()} == {
        "fc.bias": SkipReason.SHAPE,
        "aux": SkipReason.NORM_AFFINE,
        "extra": SkipReason.UNKNOWN,
    }
    assert report.not_loaded == ["0.bias", "1.bias", "1.weight"]
    before = net[0].weight.clone()
    with pytest.raises(CheckpointError, match="lacks 'gone'"):
        apply_transfers(
            net,
            {"fc.weight": state["fc.weight"] + 1},
            [*transfers[:1], Transfer("0.bias", ("gone",))],
            {},
            "toy",
        )
    assert torch.equal(net[0].weight, before)


def test_summary_groups_reasons():
    report = LoadReport("toy", skipped={"a": Skip(SkipReason.HEAD), "b": Skip(SkipReason.HEAD)})
    report.notes.append("hello")
    text = report.summary()
    assert "skipped 2 (task head" in text and "note: hello" in text
