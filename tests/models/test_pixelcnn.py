"""Gated PixelCNN: exact causality, a receptive field with no blind spot, shapes and configs."""

import pytest
import torch

from trigen.autoregressive.logistic_mixture import num_params
from trigen.errors import ConfigError
from trigen.models.pixelcnn import (
    PIXELCNN_PRESETS,
    PixelCNN,
    PixelCNNConfig,
    PixelCNNOutput,
    pixelcnn_config,
)


def _input_grad(net: PixelCNN, x: torch.Tensor, select) -> torch.Tensor:
    """Gradient (C, H, W) of the sum of ``select(net output)`` w.r.t. a single input image."""
    x = x.clone().requires_grad_(True)
    select(net(x, torch.tensor([1]))).sum().backward()
    return x.grad[0]


def _raster_index(h: int, w: int) -> torch.Tensor:
    return torch.arange(h * w).view(h, w)


def _randomise(net: PixelCNN, gen: torch.Generator) -> None:
    """Generic non-zero weights, so that an exactly zero gradient can only come from the masks."""
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / fan_in**0.5)


TARGETS = [(0, 0), (0, 27), (5, 9), (13, 13), (20, 0), (27, 27)]


@pytest.mark.parametrize("i, j", TARGETS)
def test_tiny_preset_is_causal(i: int, j: int) -> None:
    net = PixelCNN(pixelcnn_config("pixelcnn-tiny"))
    x = torch.rand(1, 1, 28, 28) * 2 - 1
    grad = _input_grad(net, x, lambda out: out[:, :, :, i, j])  # (1, 28, 28)
    at_or_after = _raster_index(28, 28) >= i * 28 + j
    assert (grad[:, at_or_after] == 0).all()
    if (i, j) != (0, 0):  # the first pixel has no context at all
        assert (grad[:, ~at_or_after] != 0).any()


@pytest.mark.parametrize("i, j", [(0, 0), (3, 4), (7, 7)])
def test_rgb_softmax_orders_channels(i: int, j: int) -> None:
    """Logits of channel c at (i, j) read channels < c of (i, j) and nothing later."""
    config = pixelcnn_config("pixelcnn-tiny", in_channels=3, input_size=8, channels=24)
    net = PixelCNN(config).double()
    _randomise(net, torch.Generator().manual_seed(1))
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1
    after = _raster_index(8, 8) > i * 8 + j
    for c in range(3):
        grad = _input_grad(net, x, lambda out, c=c: out[:, :, c, i, j])  # (3, 8, 8)
        assert (grad[:, after] == 0).all()
        assert (grad[c:, i, j] == 0).all()
        assert (grad[:c, i, j] != 0).all()


def test_logistic_mixture_output_never_reads_its_pixel() -> None:
    config = pixelcnn_config("pixelcnn-cifar", input_size=8, channels=12, num_layers=3)
    net = PixelCNN(config)
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    grad = _input_grad(net, x, lambda out: out[:, :, 4, 5])
    assert (grad[:, _raster_index(8, 8) >= 4 * 8 + 5] == 0).all()
    assert (grad[:, 4, 4] != 0).all()


@pytest.mark.parametrize("kernel_size, num_layers", [(3, 4), (5, 2)])
def test_receptive_field_has_no_blind_spot(kernel_size: int, num_layers: int) -> None:
    """The gradient is non-zero exactly on the receptive field of the two stacks: every row above
    within reach, left and RIGHT of the target (where a single masked stack has its blind spot),
    and the pixels to the left in the target's row."""
    size, (i, j) = 14, (9, 6)
    config = PixelCNNConfig(
        input_size=size, channels=16, num_layers=num_layers, kernel_size=kernel_size
    )
    net = PixelCNN(config).double()
    _randomise(net, torch.Generator().manual_seed(0))
    x = torch.rand(1, 1, size, size, dtype=torch.float64) * 2 - 1
    grad = _input_grad(net, x, lambda out: out[:, :, :, i, j])[0]  # (H, W)

    reach = num_layers * (kernel_size // 2)
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    above = (rows < i) & (rows >= i - 1 - reach) & ((cols - j).abs() <= reach)
    left = (rows == i) & (cols < j) & (cols >= j - reach)
    field = above | left
    assert field[i - 1, j + reach] and field[i - 2, j + 1]  # the classic blind spot is inside
    assert (grad[field] != 0).all()
    assert (grad[~field] == 0).all()


@pytest.mark.parametrize("output", ["softmax256", "logistic_mixture"])
def test_a_window_of_context_rows_gives_the_full_output(output: str) -> None:
    """Row i computed from rows [i - context_rows, i] alone equals row i of the whole image."""
    config = PixelCNNConfig(
        in_channels=3, input_size=12, channels=9, num_layers=3, kernel_size=3, output=output
    )
    net = PixelCNN(config).double()
    x, y = torch.rand(2, 3, 12, 12, dtype=torch.float64) * 2 - 1, torch.tensor([1, 10])
    full = net(x, y)
    for i in (5, 8, 11):
        top = i - config.context_rows
        assert top >= 0
        window = net(x[:, :, top : i + 1], y)
        torch.testing.assert_close(window[..., -1, :], full[..., i, :])
        cut_short = net(x[:, :, top + 1 : i + 1], y)
        assert not torch.allclose(cut_short[..., -1, :], full[..., i, :])


def test_output_shapes() -> None:
    x, y = torch.rand(2, 3, 6, 6) * 2 - 1, torch.tensor([0, 10])  # 10 = the null class
    small = dict(in_channels=3, input_size=6, channels=9, num_layers=2)
    softmax = PixelCNN(PixelCNNConfig(**small))
    assert softmax(x, y).shape == (2, 256, 3, 6, 6)
    mixture = PixelCNN(PixelCNNConfig(**small, output="logistic_mixture", num_mixtures=4))
    assert mixture(x, y).shape == (2, num_params(3, 4), 6, 6) == (2, 40, 6, 6)


def test_label_conditions_the_output() -> None:
    net = PixelCNN(PixelCNNConfig(input_size=6, channels=8, num_layers=2))
    x = torch.zeros(1, 1, 6, 6)
    assert not torch.equal(net(x, torch.tensor([3])), net(x, torch.tensor([10])))


def test_masks_are_not_saved() -> None:
    net = PixelCNN(PixelCNNConfig(input_size=6, channels=8, num_layers=2))
    assert not any(k.endswith("mask") for k in net.state_dict())
    PixelCNN(net.cfg).load_state_dict(net.state_dict())


def test_presets_and_overrides() -> None:
    assert set(PIXELCNN_PRESETS) == {"pixelcnn-tiny", "pixelcnn-small", "pixelcnn-cifar"}
    config = pixelcnn_config("pixelcnn-tiny", num_classes=0, output="logistic_mixture")
    assert config.output is PixelCNNOutput.LOGISTIC_MIXTURE and config.num_classes == 0
    assert pixelcnn_config("pixelcnn-cifar").out_channels == num_params(3, 10)
    assert PixelCNNConfig() == pixelcnn_config("pixelcnn-tiny")


@pytest.mark.parametrize(
    "make",
    [
        lambda: pixelcnn_config("pixelcnn-huge"),
        lambda: pixelcnn_config("pixelcnn-tiny", width=3),
        lambda: pixelcnn_config("pixelcnn-tiny", output="gaussian"),
        lambda: pixelcnn_config("pixelcnn-tiny", kernel_size=4),
        lambda: pixelcnn_config("pixelcnn-tiny", num_layers=0),
        lambda: pixelcnn_config("pixelcnn-tiny", in_channels=3, channels=2),
        lambda: pixelcnn_config("pixelcnn-tiny", num_classes=-1),
        lambda: pixelcnn_config("pixelcnn-tiny", channels="32"),
    ],
)
def test_bad_configs_raise_config_error(make) -> None:
    with pytest.raises(ConfigError):
        make()
