"""The token families train, score and sample with named conditions: raster AR (pixels and VQ
codes), MaskGIT and PixelCNN; nulls, dropping, per-condition guidance, the KV cache (issue 25)."""

from __future__ import annotations

import math

import pytest
import torch

from trigen.autoregressive.generate import generate
from trigen.batch import Batch
from trigen.conditions import ConditionKind, ConditionSpec, Guidance
from trigen.errors import ConfigError, DataError
from trigen.families.autoregressive import AutoregressiveFamily, VQTokenFamily
from trigen.families.base import SampleSpec
from trigen.families.maskgit import MaskGITFamily, MaskGITVQFamily
from trigen.families.pixelcnn import PixelCNNFamily
from trigen.models.ar_transformer import ARTransformer, ar_config
from trigen.models.maskgit import MaskGIT, maskgit_config
from trigen.models.pixelcnn import PixelCNN, pixelcnn_config
from trigen.tokenizers.vqvae import VQVAE, vq_config

SPECS = (
    ConditionSpec("attributes", ConditionKind.VECTOR, 3),
    ConditionSpec("skeleton", ConditionKind.MAP, 1),
)
NUM_CLASSES = 4
SIDE = 8
SHAPE = (1, SIDE, SIDE)
TINY = {"width": 32, "depth": 2, "heads": 4}
LABELS = torch.tensor([1, 2, 0])


def conds(batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Normalised attributes and a sparse skeleton-like map (±1, a fifth of it on)."""
    g = gen(seed)
    attributes = torch.randn(batch, 3, generator=g)
    on = torch.rand(batch, 1, SIDE, SIDE, generator=g) < 0.2
    return {"attributes": attributes, "skeleton": on.float() * 2 - 1}


def batch(n: int = 3) -> Batch:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, *SHAPE), generator=g) / 127.5 - 1
    return Batch(images, LABELS[:n], conds(n))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def opened(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with every zero-initialised parameter moved (the PixelCNN's condition paths
    start closed); a transformer's weights all drawn large (at GPT-2's init, attention is
    near-uniform and small, so a prefix moves the logits by little), so conditions change
    samples."""
    with torch.no_grad():
        for p in net.parameters():
            if hasattr(net, "head") or p.abs().max() == 0:
                p.normal_(std=0.3)
    return net.eval()


def ar_family(specs=SPECS, **options) -> AutoregressiveFamily:
    torch.manual_seed(0)
    cfg = ar_config("ar-tiny", image_shape=SHAPE, num_classes=NUM_CLASSES, conditions=specs, **TINY)
    return AutoregressiveFamily(opened(ARTransformer(cfg)), NUM_CLASSES, SHAPE, **options,
                                conditions=specs)  # fmt: skip


def maskgit_family(specs=SPECS, **options) -> MaskGITFamily:
    torch.manual_seed(0)
    cfg = maskgit_config(
        "maskgit-tiny", image_shape=SHAPE, num_classes=NUM_CLASSES, conditions=specs, **TINY
    )
    return MaskGITFamily(opened(MaskGIT(cfg)), NUM_CLASSES, SHAPE, **options, conditions=specs)


def pixelcnn_family(specs=SPECS, **options) -> PixelCNNFamily:
    torch.manual_seed(0)
    cfg = pixelcnn_config(
        "pixelcnn-tiny", input_size=SIDE, num_classes=NUM_CLASSES, conditions=specs,
        channels=8, num_layers=3, **{k: options.pop(k) for k in ("output",) if k in options},
    )  # fmt: skip
    return PixelCNNFamily(opened(PixelCNN(cfg)), NUM_CLASSES, SHAPE, **options, conditions=specs)


FAMILIES = [
    ("ar", ar_family, SampleSpec()),
    ("maskgit", maskgit_family, SampleSpec(steps=4)),
    ("pixelcnn", pixelcnn_family, SampleSpec()),
]
IDS = [name for name, _, _ in FAMILIES]
each_family = pytest.mark.parametrize("name,make,spec", FAMILIES, ids=IDS)


def with_guidance(spec: SampleSpec, **fields) -> SampleSpec:
    return SampleSpec(**{**vars(spec), **fields})


@each_family
def test_trains_one_step_and_samples_with_a_vector_and_a_map(name, make, spec):
    family = make()
    family.net.train()
    opt = torch.optim.SGD(family.net.parameters(), lr=0.1)
    loss = family.loss(batch(), gen())
    assert loss.shape == (3,) and torch.isfinite(loss).all()
    loss.mean().backward()
    opt.step()
    family.net.eval()
    images = family.sample(LABELS, spec, gen(), conds=conds())
    assert images.shape == (3, *SHAPE) and images.abs().max() <= 1
    assert torch.isfinite(family.nll(batch())).all()


@each_family
def test_samples_follow_the_conditions_and_a_null_is_an_absent_one(name, make, spec):
    family, c = make(), conds()
    base = family.sample(LABELS, spec, gen(2), conds=c)
    for key, other in conds(seed=9).items():
        assert not torch.equal(base, family.sample(LABELS, spec, gen(2), conds={**c, key: other}))
        nulled = {**c, key: torch.full_like(c[key], math.nan)}
        absent = {k: v for k, v in c.items() if k != key}
        got = family.sample(LABELS, spec, gen(3), conds=nulled)
        assert torch.equal(got, family.sample(LABELS, spec, gen(3), conds=absent))


@each_family
def test_nll_reads_the_batch_conditions_and_dropping_one_leaves_the_other(name, make, spec):
    family, b = make(), batch()
    full = family.nll(b, gen(4))
    vector_only = Batch(b.images, b.labels, {"attributes": b.conds["attributes"]})
    nothing = Batch(b.images, b.labels)
    nulled = Batch(b.images, b.labels, {**b.conds, "skeleton": b.conds["skeleton"] * math.nan})
    torch.testing.assert_close(family.nll(nulled, gen(4)), family.nll(vector_only, gen(4)))
    assert not torch.allclose(family.nll(vector_only, gen(4)), family.nll(nothing, gen(4)))
    assert not torch.allclose(full, family.nll(vector_only, gen(4)))  # the map acts too
    with pytest.raises(DataError, match="not trained with condition 'depth'"):
        family.nll(Batch(b.images, b.labels, {**b.conds, "depth": b.conds["attributes"]}))


@each_family
def test_guidance_at_scale_one_is_conditional_sampling(name, make, spec):
    family, c = make(), conds()
    conditional = family.sample(LABELS, spec, gen(5), conds=c)
    cfg_one = family.sample(LABELS, with_guidance(spec, cfg=1.0), gen(5), conds=c)
    scales = (("class", 1.0), ("attributes", 1.0), ("skeleton", 1.0))
    nested_one = family.sample(LABELS, with_guidance(spec, guidance=scales), gen(5), conds=c)
    assert torch.equal(cfg_one, conditional) and torch.equal(nested_one, conditional)


@each_family
def test_guidance_scale_zero_on_one_condition_samples_without_it(name, make, spec):
    """Scale 0 on the skeleton keeps only the branch where it is null: unconditional along it,
    the class and the attributes still on."""
    family, c = make(), conds()
    zero = with_guidance(spec, guidance=(("skeleton", 0.0),))
    without = {"attributes": c["attributes"]}
    got = family.sample(LABELS, zero, gen(6), conds=c)
    assert torch.equal(got, family.sample(LABELS, spec, gen(6), conds=without))
    with pytest.raises(ConfigError, match="depth"):
        family.sample(LABELS, with_guidance(spec, guidance=(("depth", 2.0),)), gen(), conds=c)


# ------------------------------------------------------------------------------ AR generation
NESTED = Guidance(scales=(("attributes", 2.0), ("skeleton", 3.0)))


def test_nested_guidance_caches_every_branch_and_follows_the_guided_logits():
    """Three branches (class only; + attributes; + skeleton) share one KV cache of 3·B rows;
    the cached and recomputing paths draw the same tokens, and greedy draws are the argmax of
    e₀ + 2·(e₁ − e₀) + 3·(e₂ − e₁) under teacher forcing."""
    family, c = ar_family(), conds()
    net, seq_len = family.net, family.seq_len
    rows = []
    new_cache = net.new_cache
    net.new_cache = lambda n, **kw: rows.append(n) or new_cache(n, **kw)
    kwargs = dict(seq_len=seq_len, null_label=NUM_CLASSES, cfg=NESTED, conds=c)
    cached = generate(net, LABELS, generator=gen(7), temperature=1.5, **kwargs)
    recomputed = generate(net, LABELS, generator=gen(7), temperature=1.5, use_cache=False, **kwargs)
    assert rows == [3 * 3] and torch.equal(cached, recomputed)
    greedy = generate(net, LABELS, generator=gen(), top_k=1, **kwargs)
    nan = {k: torch.full_like(v, math.nan) for k, v in c.items()}
    with torch.no_grad():
        e0, e1, e2 = (
            net(greedy[:, :-1], LABELS, None, on)
            for on in (nan, {**nan, "attributes": c["attributes"]}, c)
        )
    assert torch.equal(greedy, (e0 + 2 * (e1 - e0) + 3 * (e2 - e1)).argmax(-1))


def test_one_scale_is_the_old_classifier_free_guidance():
    """A class-only model guided by a float scale: [cond ‖ uncond], one cache of 2·B rows."""
    family = ar_family(specs=())
    net, kwargs = family.net, dict(seq_len=family.seq_len, null_label=NUM_CLASSES, top_k=1)
    tokens = generate(net, LABELS, cfg=2.5, **kwargs)
    assert torch.equal(tokens, generate(net, LABELS, cfg=Guidance(2.5), **kwargs))
    with torch.no_grad():
        cond = net(tokens[:, :-1], LABELS)
        uncond = net(tokens[:, :-1], torch.full_like(LABELS, NUM_CLASSES))
    assert torch.equal(tokens, (uncond + 2.5 * (cond - uncond)).argmax(-1))


# ------------------------------------------------------------------------------ VQ codes
def vq_families():
    tokenizer = VQVAE(vq_config("vq-tiny", in_channels=1, image_size=SIDE, codebook_size=16))
    tokenizer = tokenizer.eval().requires_grad_(False)
    h, w = tokenizer.token_grid
    grid = dict(grid=(h, w, 1), vocab_size=16, num_classes=NUM_CLASSES, conditions=SPECS)
    ar = ARTransformer(ar_config("ar-tiny", **grid, map_size=SIDE, **TINY))
    mg = MaskGIT(maskgit_config("maskgit-tiny", **grid, map_size=SIDE, **TINY))
    return [
        VQTokenFamily(ar, tokenizer, NUM_CLASSES, SHAPE, conditions=SPECS),
        MaskGITVQFamily(mg, tokenizer, NUM_CLASSES, SHAPE, conditions=SPECS),
    ]


def test_vq_token_models_read_maps_at_image_resolution():
    for family in vq_families():
        assert family.net.cfg.prefix_len == 1 + (SIDE // family.net.cfg.map_patch) ** 2
        codes = Batch(family.tokens(batch().images), LABELS, conds())  # cached grids
        loss = family.loss(codes, gen())
        assert loss.shape == (3,) and torch.isfinite(loss).all()
        loss.mean().backward()
        spec = SampleSpec(steps=3, guidance=(("skeleton", 2.0),))
        images = family.sample(LABELS, spec, gen(), conds=conds())
        assert images.shape == (3, *SHAPE)


# ------------------------------------------------------------------------------ PixelCNN
@pytest.mark.parametrize("output", ["softmax256", "logistic_mixture"])
def test_pixelcnn_greedy_sample_with_a_map_is_a_fixed_point_of_one_full_forward(output):
    """Sampling crops rows (context above, the map encoder's reach on both sides); with the
    conditions on, a top-k 1 sample is still the argmax of one full forward."""
    from trigen.autoregressive import logistic_mixture as lm

    family, c = pixelcnn_family(output=output), conds()
    x = family.sample(LABELS, SampleSpec(top_k=1), gen(), conds=c)
    with torch.no_grad():
        out = family.net(x, LABELS, c)
    if output == "logistic_mixture":
        out = lm.level_log_probs(out, x)  # (B, 256, C, H, W)
    torch.testing.assert_close(out.argmax(1) / 127.5 - 1, x)


def test_pixelcnn_family_refuses_a_net_built_for_other_conditions():
    net = pixelcnn_family().net
    with pytest.raises(ConfigError, match="conditions"):
        PixelCNNFamily(net, NUM_CLASSES, SHAPE, conditions=SPECS[:1])
