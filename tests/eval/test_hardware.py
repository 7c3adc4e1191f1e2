"""The host description: /proc/cpuinfo parsed as a pure function, and this machine's HostInfo."""

import dataclasses
import json

import pytest
import torch

from trigen.eval.hardware import HostInfo, has_fast_bf16, host_info, parse_cpuinfo

# two processor blocks of a Sapphire Rapids Xeon (AMX), flags shortened; the model name padded
INTEL_AMX = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R)  Platinum 8480+
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512dq avx512bw avx512_vnni avx512_bf16 amx_bf16 \
avx512_fp16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R)  Platinum 8480+
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512dq avx512bw avx512_vnni avx512_bf16 amx_bf16 \
avx512_fp16 amx_tile amx_int8
"""

# a Zen 2 EPYC: AVX2, no AVX-512
AMD_AVX2 = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni
"""

# an AArch64 server (Neoverse V1): no model name, only implementer and part
ARM_NEOVERSE = """\
processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve bf16
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


def test_intel_amx_cpuinfo():
    model, isa = parse_cpuinfo(INTEL_AMX)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"  # whitespace collapsed
    assert isa == ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    assert has_fast_bf16(isa, cuda=False)


def test_amd_avx2_cpuinfo():
    model, isa = parse_cpuinfo(AMD_AVX2)
    assert (model, isa) == ("AMD EPYC 7B12", ("avx2",))
    assert not has_fast_bf16(isa, cuda=False)
    assert has_fast_bf16(isa, cuda=True)  # a CUDA device does bf16 whatever the CPU


def test_flags_match_whole_words_only():
    _, isa = parse_cpuinfo("flags : avx512bw avx512_vnni avx2x amx_int8\n")
    assert isa == ()  # no avx512f, avx2 or amx_tile hides in a longer flag


def test_arm_cpuinfo_names_the_part():
    model, isa = parse_cpuinfo(ARM_NEOVERSE)
    assert model == "Arm CPU implementer 0x41 part 0xd40"
    assert isa == ("asimd",)


def test_empty_cpuinfo():
    assert parse_cpuinfo("") == ("", ())


def test_this_host():
    info = host_info()
    assert info.cpu_model.strip()
    assert set(info.isa) <= {
        "avx2",
        "avx512f",
        "avx512_bf16",
        "amx_bf16",
        "amx_tile",
        "asimd",
        "neon",
    }
    assert info.cores >= 1
    assert info.torch_threads == torch.get_num_threads()
    assert info.torch == torch.__version__
    assert info.device == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    assert info.bf16_fast == has_fast_bf16(info.isa, cuda=torch.cuda.is_available())

    summary = info.summary()
    assert "\n" not in summary and summary.startswith(info.cpu_model)
    assert f"{info.cores} cores" in summary and f"torch {info.torch}" in summary
    assert HostInfo(**json.loads(json.dumps(info.to_dict())) | {"isa": info.isa}) == info
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.cores = 0  # type: ignore[misc]


def test_unreadable_cpuinfo_falls_back(tmp_path):
    info = host_info(cpuinfo=tmp_path / "no-such-file")
    assert info.cpu_model.strip() and info.isa == ()
