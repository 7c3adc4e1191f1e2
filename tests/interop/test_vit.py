"""ViT → DiT initialisation: exact weights, an exact load report, and equal block functions."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from trigen.errors import CheckpointError
from trigen.interop.common import SkipReason
from trigen.interop.vit import init_dit_from_vit
from trigen.models.dit import DiT, dit_config

transformers = pytest.importorskip("transformers")

WIDTH, HEADS = 32, 2


def tiny_dit(depth=2, channels=4, **kw) -> DiT:
    cfg = dit_config(
        "DiT-T/2",
        input_size=8,
        in_channels=channels,
        num_classes=3,
        hidden=WIDTH,
        depth=depth,
        heads=HEADS,
        **kw,
    )
    return DiT(cfg)


def saved_hf_vit(tmp_path, *, layers=3, channels=4, classifier=False):
    """A tiny random transformers ViT saved with save_pretrained (safetensors); its directory."""
    config = transformers.ViTConfig(
        hidden_size=WIDTH,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=4 * WIDTH,
        image_size=8,
        patch_size=2,
        num_channels=channels,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        num_labels=5,
    )
    cls = transformers.ViTForImageClassification if classifier else transformers.ViTModel
    model = cls(config).eval()
    with torch.no_grad():  # non-trivial norm affines, so loading them is visible
        for name, p in model.named_parameters():
            if "layernorm" in name:
                p.normal_()
    model.save_pretrained(tmp_path)
    return model, tmp_path


@pytest.mark.parametrize("channels", [4, 3])
def test_hf_vit_blocks_load_and_report_lists_exactly_the_skips(tmp_path, channels):
    _, directory = saved_hf_vit(tmp_path, channels=channels)
    file = load_file(str(directory / "model.safetensors"))
    net = tiny_dit(depth=2)
    report = init_dit_from_vit(net, directory)
    own = net.state_dict()
    for n in range(2):
        src = f"encoder.layer.{n}."
        for s in ("weight", "bias"):
            qkv = torch.cat(
                [file[f"{src}attention.attention.{p}.{s}"] for p in ("query", "key", "value")]
            )
            assert torch.equal(own[f"blocks.{n}.attn.qkv.{s}"], qkv)
            assert torch.equal(
                own[f"blocks.{n}.attn.proj.{s}"], file[f"{src}attention.output.dense.{s}"]
            )
            assert torch.equal(own[f"blocks.{n}.mlp.fc1.{s}"], file[f"{src}intermediate.dense.{s}"])
            assert torch.equal(own[f"blocks.{n}.mlp.fc2.{s}"], file[f"{src}output.dense.{s}"])
    expected = {
        "embeddings.cls_token": SkipReason.CLASS_TOKEN,
        "embeddings.position_embeddings": SkipReason.POSITIONS,
        "layernorm.weight": SkipReason.HEAD,
        "layernorm.bias": SkipReason.HEAD,
        "pooler.dense.weight": SkipReason.HEAD,
        "pooler.dense.bias": SkipReason.HEAD,
    }
    for n in range(2):
        for ln in ("layernorm_before", "layernorm_after"):
            for s in ("weight", "bias"):
                expected[f"encoder.layer.{n}.{ln}.{s}"] = SkipReason.NORM_AFFINE
    expected.update({k: SkipReason.NO_TARGET for k in file if k.startswith("encoder.layer.2.")})
    if channels != 4:
        for s in ("weight", "bias"):
            expected[f"embeddings.patch_embeddings.projection.{s}"] = SkipReason.PATCH_EMBED
    else:
        patch = file["embeddings.patch_embeddings.projection.weight"]
        assert torch.equal(own["x_embedder.proj.weight"], patch)
    assert {k: v.reason for k, v in report.skipped.items()} == expected
    assert set(report.loaded) | set(report.skipped) <= set(own) | set(file)
    used = {s for sources in report.loaded.values() for s in sources}
    assert used | set(report.skipped) == set(file)  # every source tensor accounted for once
    assert not used & set(report.skipped)
    params = {n for n, _ in net.named_parameters()}
    assert set(report.not_loaded) == params - set(report.loaded)
    assert "blocks.0.adaLN_modulation.1.weight" in report.not_loaded
    assert "skipped" in report.summary()


def test_classifier_checkpoint_prefix_and_heads(tmp_path):
    _, directory = saved_hf_vit(tmp_path, layers=1, classifier=True)
    net = tiny_dit(depth=2)
    report = init_dit_from_vit(net, directory)
    assert report.skipped["classifier.weight"].reason is SkipReason.HEAD
    assert report.skipped["vit.layernorm.weight"].reason is SkipReason.HEAD
    assert "blocks.0.attn.qkv.weight" in report.loaded
    assert "blocks.1.attn.qkv.weight" in report.not_loaded  # ViT has one block, the DiT two
    report = init_dit_from_vit(tiny_dit(), directory, source_heads=4)
    assert report.skipped["vit.encoder.layer.0.attention.attention.query.weight"].reason is (
        SkipReason.HEADS
    )
    assert "blocks.0.mlp.fc1.weight" in report.loaded


@torch.no_grad()
def test_loaded_in_context_dit_blocks_compute_the_vit_layers(tmp_path):
    """In-context DiT blocks have affine norms: with them loaded, each block is the ViT layer."""
    model, directory = saved_hf_vit(tmp_path, layers=2)
    net = tiny_dit(depth=2, conditioning="in_context").eval()
    report = init_dit_from_vit(net, directory)
    assert "blocks.0.norm1.weight" in report.loaded
    tokens = torch.randn(2, 16, WIDTH)
    ours, theirs = tokens, tokens
    for block, layer in zip(net.blocks, model.layers, strict=True):
        ours, theirs = block(ours, None), layer(theirs)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def timm_state_dict(depth=3, qkv_bias=True):
    g = torch.Generator().manual_seed(0)
    D, sd = WIDTH, {}

    def put(name, *shape):
        sd[name] = torch.randn(*shape, generator=g)

    put("cls_token", 1, 1, D)
    put("pos_embed", 1, 17, D)
    put("patch_embed.proj.weight", D, 3, 16, 16)
    put("patch_embed.proj.bias", D)
    for n in range(depth):
        b = f"blocks.{n}."
        for norm in ("norm1", "norm2"):
            put(b + norm + ".weight", D)
            put(b + norm + ".bias", D)
        put(b + "attn.qkv.weight", 3 * D, D)
        if qkv_bias:
            put(b + "attn.qkv.bias", 3 * D)
        put(b + "attn.proj.weight", D, D)
        put(b + "attn.proj.bias", D)
        put(b + "mlp.fc1.weight", 4 * D, D)
        put(b + "mlp.fc1.bias", 4 * D)
        put(b + "mlp.fc2.weight", D, 4 * D)
        put(b + "mlp.fc2.bias", D)
        put(b + "ls1.gamma", D)  # layer scale: DiT has none
    put("norm.weight", D)
    put("norm.bias", D)
    put("head.weight", 10, D)
    put("head.bias", 10)
    return sd


@pytest.mark.parametrize("form", ["dict", "safetensors", "pth"])
def test_timm_layout(tmp_path, form):
    sd = timm_state_dict()
    source = sd
    if form == "safetensors":
        source = tmp_path / "vit.safetensors"
        save_file(sd, str(source))
    elif form == "pth":
        source = tmp_path / "vit.pth"
        torch.save({f"module.{k}": v for k, v in sd.items()}, source)  # a DDP-saved file
        sd = {f"module.{k}": v for k, v in sd.items()}
    net = tiny_dit(depth=4)
    report = init_dit_from_vit(net, source)
    p = "module." if form == "pth" else ""
    for n in range(3):
        for part in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
            assert torch.equal(
                net.state_dict()[f"blocks.{n}.{part}.weight"], sd[f"{p}blocks.{n}.{part}.weight"]
            )
    reasons = {k: v.reason for k, v in report.skipped.items()}
    assert reasons[f"{p}patch_embed.proj.weight"] is SkipReason.PATCH_EMBED
    assert reasons[f"{p}pos_embed"] is SkipReason.POSITIONS
    assert reasons[f"{p}cls_token"] is SkipReason.CLASS_TOKEN
    assert reasons[f"{p}head.weight"] is reasons[f"{p}norm.bias"] is SkipReason.HEAD
    assert reasons[f"{p}blocks.1.norm2.weight"] is SkipReason.NORM_AFFINE
    assert reasons[f"{p}blocks.2.ls1.gamma"] is SkipReason.UNKNOWN
    assert "blocks.3.attn.qkv.weight" in report.not_loaded
    assert any("head count unknown" in note for note in report.notes)


def test_timm_without_qkv_bias_keeps_the_target_bias():
    net = tiny_dit()
    before = net.blocks[0].attn.qkv.bias.clone()
    report = init_dit_from_vit(net, timm_state_dict(depth=2, qkv_bias=False))
    assert "blocks.0.attn.qkv.weight" in report.loaded
    assert "blocks.0.attn.qkv.bias" in report.not_loaded
    assert torch.equal(net.blocks[0].attn.qkv.bias, before)


def test_not_a_vit():
    with pytest.raises(CheckpointError, match="not a ViT checkpoint"):
        init_dit_from_vit(tiny_dit(), {"weight": torch.zeros(3)})
