"""What each family is, in words: the design facts the comparison table and figures print
beside the measured numbers. Torch-free, so the report is rebuilt from a saved results.json
alone; keyed by the family's name as results.json keeps it (a new family adds its card here,
beside its registration in :mod:`trigen.build`)."""

from __future__ import annotations

from dataclasses import dataclass

DENOISING_LOSS = "denoising loss (MSE per dimension)"
NLL_LOSS = "NLL (nats per image)"


@dataclass(frozen=True)
class FamilyCard:
    """A family's design facts, a phrase each (the report appends its measured numbers)."""

    title: str
    architecture: str
    process: str  # how it generates an image
    attention: str  # the range of its attention or receptive field
    conditioning: str  # how the class enters
    objective: str  # its training objective and what its NLL is
    pretraining: str
    best_use: str
    loss: str = "training loss"  # what its training-loss curve measures, with its unit


CARDS: dict[str, FamilyCard] = {
    "unet": FamilyCard(
        title="U-Net diffusion",
        architecture="conv encoder–decoder, ResBlocks, skip connections",
        process="parallel denoising of the whole image over many steps",
        attention="local convolutions; attention only at low resolution",
        conditioning="timestep + class embedding → AdaGN scale-shift (FiLM)",
        objective="MSE denoising (ε / v / x₀); ELBO upper bound on NLL",
        pretraining="rarely transferred; trained per dataset",
        best_use="high quality at small/medium scale, few-step samplers",
        loss=DENOISING_LOSS,
    ),
    "dit": FamilyCard(
        title="DiT (diffusion transformer)",
        architecture="patchify → transformer blocks at one token count → unpatchify",
        process="parallel denoising of the whole image over many steps",
        attention="global self-attention in every block",
        conditioning="adaLN-Zero (or adaLN / in-context / cross-attention)",
        objective="MSE denoising (ε / v / x₀); ELBO upper bound on NLL",
        pretraining="can start from ViT weights; scales by depth/width",
        best_use="scaling up (quality tracks GFLOPs), latent space at high resolution",
        loss=DENOISING_LOSS,
    ),
    "ar": FamilyCard(
        title="Autoregressive transformer",
        architecture="decoder-only causal transformer over pixel tokens",
        process="one token at a time, raster order, KV cache",
        attention="causal (past tokens only), global over the past",
        conditioning="class prefix token (null token for CFG)",
        objective="cross-entropy = exact NLL",
        pretraining="can start from GPT-style weights",
        best_use="exact likelihoods, unified with language models",
        loss=NLL_LOSS,
    ),
    "pixelcnn": FamilyCard(
        title="PixelCNN",
        architecture="gated masked convolutions (vertical + horizontal stacks)",
        process="one sub-pixel at a time, full forward per step",
        attention="causal receptive field that grows with depth",
        conditioning="class embedding as gate bias",
        objective="cross-entropy = exact NLL",
        pretraining="none in practice",
        best_use="exact likelihoods on small images",
        loss=NLL_LOSS,
    ),
    "vq": FamilyCard(
        title="VQ tokens + transformer",
        architecture="VQ-VAE tokenizer + causal transformer over codes",
        process="one code at a time, then decode",
        attention="causal over codes; decoder is local",
        conditioning="class prefix token",
        objective="cross-entropy over codes (token NLL, not pixel bits/dim)",
        pretraining="tokenizer pretrained, then GPT-style model",
        best_use="long-range structure at low token counts",
        loss="NLL of the codes (nats per image)",
    ),
    "maskgit": FamilyCard(
        title="MaskGIT (masked parallel decoding)",
        architecture="bidirectional transformer over pixel (or VQ) tokens, [MASK] token",
        process="K parallel steps (cosine schedule): pixels in random order, codes by confidence",
        attention="bidirectional, global over all tokens",
        conditioning="class prefix token (null token for CFG)",
        objective="cross-entropy on masked tokens; order-agnostic bound, not an exact NLL",
        pretraining="BERT-style masked modelling; none used here",
        best_use="few-step sampling of token grids",
    ),
}
"""Family name (as results.json keys it) → its card."""


def card(name: str) -> FamilyCard:
    """The card of family ``name``; one with its name as the title and no facts for a family
    without a card (results.json written by another version)."""
    return CARDS.get(name) or FamilyCard(name, "", "", "", "", "", "", "")


def title(name: str) -> str:
    """The title the report gives family ``name`` (the name itself without a card)."""
    return card(name).title
