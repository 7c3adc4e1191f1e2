"""The bf16-without-native-support warning: when it fires and what it says."""

from __future__ import annotations

import torch

from trigen.train import precision


def test_fp32_and_non_cpu_never_warn(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.bf16_slow_warning("fp32", "cpu") is None
    assert precision.bf16_slow_warning("bf16", torch.device("cuda")) is None


def test_bf16_warns_only_without_native_support(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    message = precision.bf16_slow_warning("bf16", "cpu")
    assert message is not None and "\n" not in message and "fp32" in message
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.bf16_slow_warning("bf16", "cpu") is None


def test_cpuinfo_flags_decide_without_torch_probes(monkeypatch, tmp_path) -> None:
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "CPUINFO", info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert not precision.cpu_has_native_bf16()
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert precision.cpu_has_native_bf16()
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert not precision.cpu_has_native_bf16()
