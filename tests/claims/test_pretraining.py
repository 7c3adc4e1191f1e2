"""Pretraining experiments (C4, C12): end-to-end at tiny settings, paired arms, the GPT-2 export."""

import json

import pytest
import torch

from trigen.build import DataSpec
from trigen.claims.finetune import build_arm
from trigen.claims.gpt2_init import gpt2_init_experiment
from trigen.claims.pretraining import Arm
from trigen.claims.vit_init import DIT_PRESET, vit_init_experiment
from trigen.config import FamilyName, TrainConfig
from trigen.errors import ConfigError
from trigen.interop.gpt2 import export_gpt2, gpt2_state_dict, init_ar_from_gpt2
from trigen.interop.vit import init_dit_from_vit
from trigen.interop.vit_pretrain import ViTClassifier
from trigen.models.ar_transformer import ARTransformer, ar_config

TINY = {
    "resolution": 8,
    "subset_sizes": (8, 16),
    "seeds": (0, 1),
    "pretrain_steps": 2,
    "finetune_steps": 2,
    "batch_size": 4,
    "log": lambda line: None,
}


def check_experiment(result) -> None:
    """One run per (size, seed, arm); paired arms saw the same stream; pairs match the runs."""
    keys = [(r.size, r.seed, r.arm) for r in result.runs]
    assert sorted(keys) == sorted((n, s, a) for n in (8, 16) for s in (0, 1) for a in Arm)
    runs = {(r.size, r.seed, r.arm): r for r in result.runs}
    for n in (8, 16):
        for s in (0, 1):
            scratch, init = runs[n, s, Arm.SCRATCH], runs[n, s, Arm.INIT]
            assert scratch.stream_digest == init.stream_digest
            assert [step for step, _ in scratch.curve] == [0, 1, 2]
        assert runs[n, 0, Arm.SCRATCH].stream_digest != runs[n, 1, Arm.SCRATCH].stream_digest
    for pair in result.pairs:
        expected = [runs[pair.size, s, Arm.SCRATCH].final - runs[pair.size, s, Arm.INIT].final
                    for s in pair.seeds]  # fmt: skip
        assert list(pair.differences) == pytest.approx(expected)
    assert [p.size for p in result.pairs] == [8, 16]
    assert result.transfer
    json.dumps(result.to_dict())


@pytest.mark.slow
def test_vit_init_experiment_end_to_end():
    result = vit_init_experiment(**TINY)
    check_experiment(result)
    assert 0.0 <= result.pretrained.value <= 1.0


@pytest.mark.slow
def test_gpt2_init_experiment_end_to_end():
    result = gpt2_init_experiment(**{**TINY, "batch_size": 12})
    check_experiment(result)
    # a subset smaller than a batch trains in batches of the whole subset
    assert {(r.size, r.batch_size) for r in result.runs} == {(8, 8), (16, 12)}
    # an untrained 256-level model scores about 8 bits/dim
    assert 6.0 < result.runs[0].curve[0][1] < 10.0


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="one subset size and one seed"):
        vit_init_experiment(**{**TINY, "seeds": ()})


def test_vit_init_changes_blocks_and_keeps_the_seeded_rest():
    spec = DataSpec((1, 8, 8), 10)
    cfg = TrainConfig(family=FamilyName.DIT, model=DIT_PRESET)
    scratch, _ = build_arm(cfg, spec, 3, "cpu")
    torch.manual_seed(99)
    vit = ViTClassifier(scratch.net.cfg, 10)
    heads = scratch.net.cfg.heads
    init, report = build_arm(
        cfg,
        spec,
        3,
        "cpu",
        lambda net: init_dit_from_vit(net, vit.state_dict(), source_heads=heads),
    )
    loaded = set(report.loaded)
    assert any(name.startswith("blocks.") for name in loaded)
    assert "x_embedder.proj.weight" in loaded
    a, b = scratch.net.state_dict(), init.net.state_dict()
    for name in a:
        if name in loaded:
            assert not torch.equal(a[name], b[name]), name
        else:
            assert torch.equal(a[name], b[name]), name


def tiny_ar(seed: int) -> ARTransformer:
    torch.manual_seed(seed)
    cfg = ar_config("ar-tiny", num_classes=3, image_shape=(1, 3, 3), width=32, depth=2, heads=2)
    net = ARTransformer(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases; the head bias stays zero (GPT-2)
        for name, p in net.named_parameters():
            if name != "head.bias" and ("norm" in name or name.endswith("bias")):
                p.normal_(0.0, 0.5)
    return net


@torch.no_grad()
def test_gpt2_export_import_round_trip_reproduces_logits(tmp_path):
    source, target = tiny_ar(0), tiny_ar(1)
    export_gpt2(source, tmp_path)
    report = init_ar_from_gpt2(target, tmp_path)
    assert report.not_loaded == ["y_embedder.embedding_table.weight"]
    assert not report.skipped
    target.y_embedder.load_state_dict(source.y_embedder.state_dict())  # GPT-2 has no classes
    tokens, y = torch.randint(256, (4, 8)), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(target(tokens, y), source(tokens, y), atol=1e-5, rtol=0)


@torch.no_grad()
def test_gpt2_export_is_what_transformers_computes(tmp_path):
    transformers = pytest.importorskip("transformers")
    net = tiny_ar(0)
    export_gpt2(net, tmp_path)
    gpt = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    # the class token of class y plays GPT-2 token c_y when its embedding is wte[c_y]
    y, c = torch.tensor([0, 2]), torch.tensor([5, 11])
    net.y_embedder.embedding_table.weight[y] = net.tok_embedder.weight[c]
    x = torch.randint(256, (2, 8))
    ours = net(x, y)
    theirs = gpt(torch.cat([c[:, None], x], dim=1)).logits
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_gpt2_export_refuses_what_gpt2_cannot_hold():
    net = tiny_ar(0)
    with torch.no_grad():
        net.head.bias.fill_(0.1)
    with pytest.raises(ConfigError, match=r"head\.bias"):
        gpt2_state_dict(net)
    cfg = ar_config("ar-tiny", num_classes=3, image_shape=(1, 4, 4), positions="rope")
    with pytest.raises(ConfigError, match="learned positions"):
        gpt2_state_dict(ARTransformer(cfg))
