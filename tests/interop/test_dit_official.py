"""Official DiT checkpoints: config inference, strict loading, equality with a reference forward.

The reference below is written from the DiT paper's equations (and the MAE sin-cos positions), not
from trigen's modules: patchify as a matmul over unfolded patches, [cos, sin] timestep features,
adaLN-Zero blocks with an explicit softmax attention, the modulated final layer, unpatchify.
"""

import argparse
import math
import os
import pickle
import pickletools

import pytest
import torch
import torch.nn.functional as F

from trigen.errors import CheckpointError, ConfigError
from trigen.interop.dit_official import (
    dit_from_official_state_dict,
    infer_dit_config,
    load_official_dit,
)
from trigen.models.dit import DiT, dit_config

from .official_dit import official_state_dict, sincos_2d

EPS = 1e-6


def reference_dit(sd, x, t, y, *, heads, patch):
    """DiT forward from the paper's equations over the raw state dict."""

    def lin(h, name):
        return h @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    N, C, H, W = x.shape
    p, D = patch, sd["pos_embed"].shape[-1]
    h, w = H // p, W // p
    patches = x.reshape(N, C, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(N, h * w, C * p * p)
    tokens = patches @ sd["x_embedder.proj.weight"].reshape(D, -1).T + sd["x_embedder.proj.bias"]
    tokens = tokens + sd["pos_embed"]
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    t_freq = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    t_emb = lin(F.silu(lin(t_freq, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    c = t_emb + sd["y_embedder.embedding_table.weight"][y]

    def norm(v):
        return F.layer_norm(v, (D,), eps=EPS)

    def attention(v, name):
        B, T, _ = v.shape
        q, k, val = lin(v, f"{name}.qkv").split(D, dim=-1)
        q, k, val = (a.reshape(B, T, heads, D // heads).transpose(1, 2) for a in (q, k, val))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // heads), dim=-1)
        return lin((weights @ val).transpose(1, 2).reshape(B, T, D), f"{name}.proj")

    n_blocks = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for n in range(n_blocks):
        b = f"blocks.{n}"
        mod = lin(F.silu(c), f"{b}.adaLN_modulation.1")[:, None].chunk(6, dim=-1)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod
        tokens = tokens + gate1 * attention(norm(tokens) * (1 + scale1) + shift1, f"{b}.attn")
        hid = F.gelu(lin(norm(tokens) * (1 + scale2) + shift2, f"{b}.mlp.fc1"), approximate="tanh")
        tokens = tokens + gate2 * lin(hid, f"{b}.mlp.fc2")
    shift, scale = lin(F.silu(c), "final_layer.adaLN_modulation.1")[:, None].chunk(2, dim=-1)
    out = lin(norm(tokens) * (1 + scale) + shift, "final_layer.linear")  # (N, T, p·p·C_out)
    c_out = out.shape[-1] // (p * p)
    out = out.reshape(N, h, w, p, p, c_out)
    return torch.einsum("nhwpqc->nchpwq", out).reshape(N, c_out, h * p, w * p)


def inputs(channels=4, size=8, classes=5):
    x = torch.randn(3, channels, size, size)
    t = torch.tensor([0.0, 412.25, 999.0])
    y = torch.tensor([0, 4, classes])  # includes the null class
    return x, t, y


@pytest.mark.parametrize("learn_sigma", [False, True])
@pytest.mark.parametrize("patch", [2, 4])
def test_loaded_dit_matches_reference_forward(learn_sigma, patch):
    sd = official_state_dict(learn_sigma=learn_sigma, patch=patch)
    net = dit_from_official_state_dict(sd, heads=4).eval()
    cfg = net.cfg
    assert (cfg.hidden, cfg.depth, cfg.heads, cfg.patch_size) == (32, 2, 4, patch)
    assert (cfg.input_size, cfg.in_channels, cfg.num_classes) == (8, 4, 5)
    assert cfg.learn_sigma == learn_sigma and cfg.mlp_ratio == 4.0
    x, t, y = inputs()
    with torch.no_grad():
        ours = net(x, t, y)
        ref = reference_dit(sd, x, t, y, heads=4, patch=patch)
    assert ours.shape == ref.shape == (3, 8 if learn_sigma else 4, 8, 8)
    assert ref.abs().mean() > 0.1  # a non-trivial function, not the zero init
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_trigen_positions_are_the_official_sincos():
    net = DiT(dit_config("DiT-T/2", input_size=8, in_channels=4, num_classes=5, hidden=32))
    expected = torch.from_numpy(sincos_2d(32, 4)).float()[None]
    torch.testing.assert_close(net.pos_embed, expected, atol=1e-7, rtol=0)


def test_heads_inferred_from_preset():
    net = DiT(dit_config("DiT-T/2", input_size=8, in_channels=4, num_classes=10))
    cfg = infer_dit_config(net.state_dict())
    assert cfg == net.cfg


def test_width_without_preset_needs_heads():
    with pytest.raises(ConfigError, match="pass heads="):
        infer_dit_config(official_state_dict())


@pytest.mark.parametrize("weights", ["ema", "model"])
def test_training_checkpoint_file_with_args(tmp_path, weights):
    ema, raw = official_state_dict(), official_state_dict(mlp=2)
    path = tmp_path / "0100000.pt"
    args = argparse.Namespace(model="DiT-XL/2", image_size=256)  # as official train.py saves
    torch.save({"model": raw, "ema": ema, "opt": {"state": {}}, "args": args}, path)
    net = load_official_dit(path, weights=weights, heads=2)
    chosen = ema if weights == "ema" else raw
    assert net.cfg.mlp_ratio == (4.0 if weights == "ema" else 2.0)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, chosen[key], atol=0, rtol=0)


def test_raw_state_dict_file_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    sd = official_state_dict(learn_sigma=True)
    torch.save(sd, tmp_path / "DiT-tiny.pt")
    save_file(sd, str(tmp_path / "DiT-tiny.safetensors"))
    for name in ("DiT-tiny.pt", "DiT-tiny.safetensors"):
        net = load_official_dit(tmp_path / name, heads=2)
        torch.testing.assert_close(net.final_layer.linear.weight, sd["final_layer.linear.weight"])


def test_foreign_or_broken_checkpoints_are_one_line_errors(tmp_path):
    sd = official_state_dict()
    with pytest.raises(CheckpointError, match="no 'pos_embed'"):
        dit_from_official_state_dict({k: v for k, v in sd.items() if k != "pos_embed"}, heads=2)
    with pytest.raises(CheckpointError, match="1 unexpected"):
        dit_from_official_state_dict({**sd, "extra.weight": torch.zeros(1)}, heads=2)
    bad = dict(sd, **{"blocks.0.adaLN_modulation.1.weight": torch.zeros(4 * 32, 32)})
    with pytest.raises(CheckpointError, match="adaLN-Zero"):
        dit_from_official_state_dict(bad, heads=2)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_official_dit(tmp_path / "missing.pt")
    (tmp_path / "truncated.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        load_official_dit(tmp_path / "truncated.pt")
    torch.save({"model": sd}, tmp_path / "no_ema.pt")
    with pytest.raises(CheckpointError, match="without 'ema'"):
        load_official_dit(tmp_path / "no_ema.pt")
    with pytest.raises(ConfigError, match="weights must be one of"):
        load_official_dit(tmp_path / "no_ema.pt", weights="best")


class _Payload:
    """Unpickling this would create a directory: the marker of code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _globals_named(path) -> list[str]:
    """GLOBAL / STACK_GLOBAL targets in the pickle inside ``path`` (zip member or raw pickle)."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    else:
        data = path.read_bytes()
    names, strings = [], []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            names.append(".".join(strings[-2:]))
        elif op.name == "GLOBAL":
            names.append(arg.replace(" ", "."))
    return names


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "DiT-XL-2-256x256.pt"
    payload = {"pos_embed": _Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))  # legacy torch files use 2
    assert any(name.endswith("mkdir") for name in _globals_named(path))  # the payload is armed
    with pytest.raises(CheckpointError, match=r"refused to load .*mkdir") as err:
        load_official_dit(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()
