"""The host a measurement ran on: CPU model and instruction set, cores, torch build, device.

Timings, and bf16 speed above all, depend on the CPU model and which vector and matrix units it has,
so a report names them rather than only the architecture (``x86_64``). ``host_info()`` never raises:
what it cannot read it reports as unknown.
"""

import contextlib
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
UNKNOWN = "unknown"
# the instruction-set extensions that decide matmul speed, in report order: x86 vector and matrix
# units (AMX's tiles and its bf16 multiply), Arm's SIMD (``asimd`` on AArch64, ``neon`` on 32-bit)
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "asimd", "neon")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # native bf16 dot products on the CPU
MODEL_KEYS = ("model name", "Hardware", "cpu model")  # x86 (and some Arm), older Arm SoCs, MIPS
FLAG_KEYS = ("flags", "Features")  # x86, Arm


@dataclass(frozen=True)
class HostInfo:
    """One machine as a benchmark sees it.

    ``isa`` is the subset of ``ISA_FLAGS`` the CPU has; ``cores`` the cores this process may run on;
    ``torch_build`` what torch was built with (CUDA version or CPU, MKL-DNN, its CPU kernel level);
    ``device`` the CUDA device's name, or ``"cpu"``; ``bf16_fast`` whether bf16 has hardware
    support here (AMX or AVX-512 BF16 on the CPU, or a CUDA device).
    """

    cpu_model: str
    isa: tuple[str, ...]
    cores: int
    torch_threads: int
    torch: str
    torch_build: str
    device: str
    bf16_fast: bool

    def to_dict(self) -> dict:
        """JSON-ready fields (``isa`` as a list)."""
        return {**asdict(self), "isa": list(self.isa)}

    def summary(self) -> str:
        """One line: "AMD EPYC 9B14 (avx2, avx512f), 2 cores, torch 2.13.0+cpu, 2 threads"."""
        cpu = f"{self.cpu_model} ({', '.join(self.isa)})" if self.isa else self.cpu_model
        line = f"{cpu}, {self.cores} cores, torch {self.torch}, {self.torch_threads} threads"
        return line if self.device == "cpu" else f"{line}, {self.device}"


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """The CPU model and its ``ISA_FLAGS`` from /proc/cpuinfo's text; ``""`` for an unknown model.

    Only the first value of each key counts: every processor block repeats the same CPU. AArch64
    servers name no model, only the vendor and part numbers, which then stand in for it.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), " ".join(value.split()))
    model = next((fields[k] for k in MODEL_KEYS if fields.get(k)), "")
    if not model and fields.get("CPU part"):
        model = (
            f"Arm CPU implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
        )
    flags = set(next((fields[k] for k in FLAG_KEYS if k in fields), "").split())
    return model, tuple(f for f in ISA_FLAGS if f in flags)


def has_fast_bf16(isa: tuple[str, ...], cuda: bool) -> bool:
    """Whether bf16 matmuls run on dedicated hardware: AMX or AVX-512 BF16, or a CUDA device."""
    return cuda or bool(BF16_FLAGS.intersection(isa))


def _read_cpuinfo(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:  # not Linux, or no procfs (a sandbox)
        return ""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use, not what the host has
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _torch_build() -> str:
    if torch.version.cuda:
        parts = [f"CUDA {torch.version.cuda}"]
    elif hip := getattr(torch.version, "hip", None):
        parts = [f"ROCm {hip}"]
    else:
        parts = ["CPU"]
    if torch.backends.mkldnn.is_available():
        parts.append("MKL-DNN")
    with contextlib.suppress(AttributeError, RuntimeError):  # an older torch has no such call
        parts.append(f"kernels {torch.backends.cpu.get_cpu_capability()}")  # e.g. AVX512
    return ", ".join(parts)


def _cuda_device() -> str | None:
    try:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except (RuntimeError, AssertionError):  # a driver that is present but broken
        return None


def host_info(cpuinfo: Path = CPUINFO) -> HostInfo:
    """This host, from ``cpuinfo`` (Linux) or ``platform`` elsewhere; never raises."""
    model, isa = parse_cpuinfo(_read_cpuinfo(cpuinfo))
    model = model or platform.processor() or platform.machine() or UNKNOWN
    device = _cuda_device()
    return HostInfo(
        cpu_model=model,
        isa=isa,
        cores=_cores(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        torch_build=_torch_build(),
        device=device or "cpu",
        bf16_fast=has_fast_bf16(isa, cuda=device is not None),
    )
