"""Properties of the bidirectional MaskGIT transformer: attention both ways, the [MASK] row, the
class prefix, configs."""

import pytest
import torch

from trigen.errors import ConfigError
from trigen.models.ar_transformer import AR_PRESETS, Positions
from trigen.models.maskgit import MASKGIT_PRESETS, MaskGIT, maskgit_config

from .test_ar_transformer import open_adaln_gates

NUM_CLASSES = 5


TINY = {"num_classes": NUM_CLASSES, "width": 32, "depth": 2, "heads": 4}


def tiny(positions=Positions.LEARNED, grid=(3, 3, 2), vocab=256, **overrides) -> MaskGIT:
    """A 2-block MaskGIT over a (3, 3, 2) token grid, in eval mode."""
    options = {**TINY, "positions": positions, **overrides}
    return MaskGIT(maskgit_config("maskgit-tiny", grid=grid, vocab_size=vocab, **options)).eval()


def random_batch(model: MaskGIT, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    # data tokens and [MASK]s mixed
    tokens = torch.randint(0, model.cfg.vocab_size + 1, (batch, model.cfg.seq_len))
    labels = torch.arange(batch) % (NUM_CLASSES + 1)  # includes the null class
    return tokens, labels


def embedding_gradients(model: MaskGIT, tokens, labels, position: int) -> torch.Tensor:
    """|∂ logits[:, position] / ∂ token embedding j| summed over batch and width: (L,)."""
    captured = {}

    def leaf(module, inputs, output):
        captured["emb"] = output.detach().requires_grad_()
        return captured["emb"]

    handle = model.tok_embedder.register_forward_hook(leaf)
    try:
        model(tokens, labels)[:, position].sum().backward()
    finally:
        handle.remove()
    return captured["emb"].grad.abs().sum(dim=(0, 2))


@pytest.mark.parametrize(
    ("positions", "class_bias", "class_adaln"),
    [*((p, False, False) for p in Positions), (Positions.ROPE, True, False), ("rope", False, True)],
)
def test_attention_is_bidirectional(positions, class_bias, class_adaln):
    """Every output reads every input, later ones included (a causal model's would be 0)."""
    model = tiny(positions, class_bias=class_bias, class_adaln=class_adaln)
    if class_adaln:  # open the zero-initialised gates, or every block is the identity
        open_adaln_gates(model)
    tokens, labels = random_batch(model)
    L = model.cfg.seq_len
    for i in (0, L // 2, L - 1):
        grads = embedding_gradients(model, tokens, labels, i)
        assert (grads > 0).all(), (i, grads)
        assert grads[i + 1 :].sum() > 0 or i == L - 1


def test_output_shape_and_mask_row():
    model = tiny(grid=(2, 4, 1), vocab=7)
    assert model.cfg.mask_token == 7 and model.tok_embedder.num_embeddings == 8
    tokens = torch.full((2, 8), model.cfg.mask_token)  # all masked is a valid input
    logits = model(tokens, torch.tensor([0, NUM_CLASSES]))
    assert logits.shape == (2, 8, 7)  # the data vocabulary only: [MASK] is never predicted
    assert torch.isfinite(logits).all()


def test_class_prefix_conditions_every_position():
    model = tiny()
    tokens = torch.full((1, model.cfg.seq_len), model.cfg.mask_token)
    a = model(tokens, torch.tensor([0]))
    b = model(tokens, torch.tensor([NUM_CLASSES]))  # the null class
    assert not torch.allclose(a, b)
    assert (a - b).abs().amax(dim=-1).min() > 0  # every position sees the class


def test_batch_rows_are_independent():
    model = tiny(Positions.ROPE)
    tokens, labels = random_batch(model, 4)
    full = model(tokens, labels)
    single = torch.cat([model(tokens[i : i + 1], labels[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)


def test_presets_match_the_ar_sizes():
    """A masked and a raster model of one preset size differ only by the [MASK] row."""
    for name, fields in MASKGIT_PRESETS.items():
        assert fields == AR_PRESETS[name.replace("maskgit", "ar")]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"positions": "spiral"}, "positions"),
        ({"width": 30, "heads": 4}, "divisible"),
        ({"width": 24, "heads": 4, "positions": "rope"}, "multiple of 4"),
        ({"depth": 0}, "depth"),
        ({"nope": 1}, "nope"),
    ],
)
def test_bad_configs_are_config_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        maskgit_config("maskgit-tiny", image_shape=(1, 4, 4), num_classes=2, **kwargs)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ConfigError, match="maskgit-tiny"):
        maskgit_config("maskgit-huge", image_shape=(1, 4, 4), num_classes=2)
