"""A ViT classifier in timm layout, shaped like a DiT, and the loop that pretrains it.

No pretrained ViT is available offline, so trigen pretrains its own: a classifier with the
DiT's width, depth, heads and patch size whose state dict uses timm's names
(``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.N.{norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2}``, ``norm``, ``head``), so :func:`trigen.interop.vit.init_dit_from_vit`
reads it as it reads a timm checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trigen.batch import Batch
from trigen.data.datasets import ImageDataset
from trigen.data.loader import BatchLoader
from trigen.models.dit import LN_EPS, DiTConfig
from trigen.nn.attention import Attention
from trigen.nn.mlp import Mlp

POS_INIT_STD = 0.02  # learned position embedding init (timm)
VIT_LR = 1e-3
VIT_WEIGHT_DECAY = 0.05
EVAL_CHUNK = 512  # test images per forward when measuring accuracy


class ViTBlock(nn.Module):
    """Pre-norm ViT block with affine LayerNorms (timm names)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTClassifier(nn.Module):
    """Images (B, C, H, W) → class logits (B, K), through a class token.

    Built from a :class:`DiTConfig` so that its blocks and patch embedding have exactly the
    shapes of that DiT's: width ``hidden``, ``depth`` blocks, ``heads`` heads, ``patch_size``.
    """

    def __init__(self, cfg: DiTConfig, num_classes: int) -> None:
        super().__init__()
        D, tokens = cfg.hidden, cfg.grid**2
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(cfg.in_channels, D, cfg.patch_size, cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(POS_INIT_STD * torch.randn(1, tokens + 1, D))
        self.blocks = nn.ModuleList(ViTBlock(D, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D, eps=LN_EPS)
        self.head = nn.Linear(D, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, T, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, T + 1, D)
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))  # (B, K)


def pretrain_vit(
    vit: ViTClassifier,
    train: ImageDataset,
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
    lr: float = VIT_LR,
    weight_decay: float = VIT_WEIGHT_DECAY,
) -> ViTClassifier:
    """Train ``vit`` in place by cross-entropy on ``train`` for ``steps`` AdamW steps; returns it.

    Batches come from a :class:`BatchLoader` seeded with ``seed`` (epochs of permutations), on
    the device of ``vit``'s weights.
    """
    device = next(vit.parameters()).device
    opt = torch.optim.AdamW(vit.parameters(), lr=lr, weight_decay=weight_decay)
    loader = BatchLoader(train, batch_size, seed=seed)
    vit.train()
    for _, batch in zip(range(steps), loader, strict=False):
        logits = vit(batch.images.to(device))  # (B, K)
        loss = F.cross_entropy(logits, batch.labels.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return vit.eval()


@torch.no_grad()
def classification_accuracy(vit: ViTClassifier, test: Batch) -> float:
    """Fraction of ``test`` images whose arg-max logit is their label."""
    device = next(vit.parameters()).device
    was_training = vit.training
    vit.eval()
    correct = 0
    for start in range(0, len(test.labels), EVAL_CHUNK):
        images = test.images[start : start + EVAL_CHUNK].to(device)
        labels = test.labels[start : start + EVAL_CHUNK].to(device)
        correct += int((vit(images).argmax(1) == labels).sum())
    vit.train(was_training)
    return correct / max(len(test.labels), 1)
