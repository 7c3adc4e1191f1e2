"""What each family is, in words: the design facts the comparison table and figures print
beside the measured numbers. Torch-free, so the report is rebuilt from a saved results.json
alone; keyed by the family's name as results.json keeps it (a new family adds its rows here,
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
    loss: str  # what its training-loss curve measures, with its unit


# A table per fact, a row per family (a new family adds its row to each).
TITLES = {
    "unet": "U-Net diffusion",
    "dit": "DiT (diffusion transformer)",
    "ar": "Autoregressive transformer",
    "pixelcnn": "PixelCNN",
    "vq": "VQ tokens + transformer",
    "maskgit": "MaskGIT (masked parallel decoding)",
}
ARCHITECTURES = {
    "unet": "conv encoder–decoder, ResBlocks, skip connections",
    "dit": "patchify → transformer blocks at one token count → unpatchify",
    "ar": "decoder-only causal transformer over pixel tokens",
    "pixelcnn": "gated masked convolutions (vertical + horizontal stacks)",
    "vq": "VQ-VAE tokenizer + causal transformer over codes",
    "maskgit": "bidirectional transformer over pixel (or VQ) tokens, [MASK] token",
}
PROCESSES = {
    "unet": "parallel denoising of the whole image over many steps",
    "dit": "parallel denoising of the whole image over many steps",
    "ar": "one token at a time, raster order, KV cache",
    "pixelcnn": "one sub-pixel at a time, full forward per step",
    "vq": "one code at a time, then decode",
    "maskgit": "K parallel steps (cosine schedule): pixels in random order, codes by confidence",
}
ATTENTION = {
    "unet": "local convolutions; attention only at low resolution",
    "dit": "global self-attention in every block",
    "ar": "causal (past tokens only), global over the past",
    "pixelcnn": "causal receptive field that grows with depth",
    "vq": "causal over codes; decoder is local",
    "maskgit": "bidirectional, global over all tokens",
}
CONDITIONING = {
    "unet": "timestep + class embedding → AdaGN scale-shift (FiLM)",
    "dit": "adaLN-Zero (or adaLN / in-context / cross-attention)",
    "ar": "class prefix token (null token for CFG)",
    "pixelcnn": "class embedding as gate bias",
    "vq": "class prefix token",
    "maskgit": "class prefix token (null token for CFG)",
}
OBJECTIVES = {
    "unet": "MSE denoising (ε / v / x₀); ELBO upper bound on NLL",
    "dit": "MSE denoising (ε / v / x₀); ELBO upper bound on NLL",
    "ar": "cross-entropy = exact NLL",
    "pixelcnn": "cross-entropy = exact NLL",
    "vq": "cross-entropy over codes (token NLL, not pixel bits/dim)",
    "maskgit": "cross-entropy on masked tokens; order-agnostic bound, not an exact NLL",
}
PRETRAINING = {
    "unet": "rarely transferred; trained per dataset",
    "dit": "can start from ViT weights; scales by depth/width",
    "ar": "can start from GPT-style weights",
    "pixelcnn": "none in practice",
    "vq": "tokenizer pretrained, then GPT-style model",
    "maskgit": "BERT-style masked modelling; none used here",
}
BEST_USES = {
    "unet": "high quality at small/medium scale, few-step samplers",
    "dit": "scaling up (quality tracks GFLOPs), latent space at high resolution",
    "ar": "exact likelihoods, unified with language models",
    "pixelcnn": "exact likelihoods on small images",
    "vq": "long-range structure at low token counts",
    "maskgit": "few-step sampling of token grids",
}
LOSSES = {  # a family without a row: "training loss"
    "unet": DENOISING_LOSS,
    "dit": DENOISING_LOSS,
    "ar": NLL_LOSS,
    "pixelcnn": NLL_LOSS,
    "vq": "NLL of the codes (nats per image)",
}


def card(name: str) -> FamilyCard:
    """The card of family ``name`` (as results.json keys it); a family without one (results
    written by another version) is titled by its name and has no facts."""
    return FamilyCard(
        title=TITLES.get(name, name),
        architecture=ARCHITECTURES.get(name, ""),
        process=PROCESSES.get(name, ""),
        attention=ATTENTION.get(name, ""),
        conditioning=CONDITIONING.get(name, ""),
        objective=OBJECTIVES.get(name, ""),
        pretraining=PRETRAINING.get(name, ""),
        best_use=BEST_USES.get(name, ""),
        loss=LOSSES.get(name, "training loss"),
    )
