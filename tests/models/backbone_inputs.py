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


def denoising_losses(net: torch.nn.Module, steps: int, lr: float = 3e-3) -> list[float]:
    """ε-prediction MSE per Adam step while ``net`` trains on one fixed batch.

    The batch is 8 images (1, 8, 8) drawn from the global RNG, labels 0..7, timesteps spread
    over [50, 950] on a cosine schedule: a backbone that can learn at all drives it near zero.
    """
    x0 = torch.rand(8, 1, 8, 8) * 2 - 1
    y = torch.arange(8)
    t = torch.linspace(50, 950, 8)
    alpha_bar = torch.cos(t / 1000 * torch.pi / 2)[:, None, None, None] ** 2
    eps = torch.randn_like(x0)
    xt = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (net(xt, t, y) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
