"""Whether the device computes bf16 natively, and the one-line warning when it does not."""

from __future__ import annotations

from pathlib import Path

import torch

from trigen.config import Precision

CPUINFO = Path("/proc/cpuinfo")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of x86 CPUs with bf16 matrix instructions (AVX512-BF16, AMX)."""


def _cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where the file does not exist)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_has_native_bf16() -> bool:
    """True where this CPU has bf16 matrix instructions (AMX or AVX512-BF16).

    Without them bf16 matmuls are emulated through fp32 conversions and run several to tens of
    times slower than fp32 (measured 10-40x on AVX2-only EPYC).
    """
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private: may vanish
    if all(hasattr(torch.cpu, p) for p in probes):
        return any(getattr(torch.cpu, p)() for p in probes)
    return bool(_cpu_flags() & set(BF16_CPU_FLAGS))


def bf16_slow_warning(precision: Precision | str, device: torch.device | str) -> str | None:
    """A one-line warning when ``precision`` is bf16 on a CPU without native bf16, else None.

    The trainer passes it to its ``on_warning`` callback once, before the first step.
    """
    device = torch.device(device)
    if Precision(precision) is not Precision.BF16 or device.type != "cpu":
        return None
    if cpu_has_native_bf16():
        return None
    return (
        "precision bf16 on a CPU without native bf16 (no AMX or AVX512-BF16): "
        "steps will be much slower than fp32 here; use --precision fp32 on this machine"
    )
