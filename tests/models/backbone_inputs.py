"""Helpers shared by the diffusion-backbone tests (DiT and U-Net take the same (x, t, y))."""

import torch


def inputs(net: torch.nn.Module, batch: int = 3):
    """(x, t, y) for a backbone with ``cfg.in_channels/input_size/num_classes``; y includes null."""
    c, s = net.cfg.in_channels, net.cfg.input_size
    x = torch.randn(batch, c, s, s)
    t = torch.tensor([0.0, 499.5, 999.9])[:batch]
    y = torch.tensor([0, 3, net.cfg.num_classes])[:batch]  # includes the null class
    return x, t, y


@torch.no_grad()
def perturb_zero_init(net: torch.nn.Module, std: float = 0.1) -> None:
    """Give every all-zero parameter small random values (leave the zero init)."""
    for p in net.parameters():
        if not p.any():
            p.normal_(0.0, std)
