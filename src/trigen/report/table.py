"""The classic comparison table (architecture … best use), filled with measured numbers.

No torch here: the report is rebuilt from a saved ``results.json`` alone.
"""

from __future__ import annotations

from typing import Any

FAMILY_TITLES = {
    "unet": "U-Net diffusion",
    "dit": "DiT (diffusion transformer)",
    "ar": "Autoregressive transformer",
    "pixelcnn": "PixelCNN",
    "vq": "VQ tokens + transformer",
    "maskgit": "MaskGIT (masked parallel decoding)",
}

# What each family *is* (design facts); the measured numbers are appended per row.
ARCHITECTURE = {
    "unet": "conv encoder–decoder, ResBlocks, skip connections",
    "dit": "patchify → transformer blocks at one token count → unpatchify",
    "ar": "decoder-only causal transformer over pixel tokens",
    "pixelcnn": "gated masked convolutions (vertical + horizontal stacks)",
    "vq": "VQ-VAE tokenizer + causal transformer over codes",
    "maskgit": "bidirectional transformer over pixel (or VQ) tokens, [MASK] token",
}
PROCESS = {
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
OBJECTIVE = {
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
BEST_USE = {
    "unet": "high quality at small/medium scale, few-step samplers",
    "dit": "scaling up (quality tracks GFLOPs), latent space at high resolution",
    "ar": "exact likelihoods, unified with language models",
    "pixelcnn": "exact likelihoods on small images",
    "vq": "long-range structure at low token counts",
    "maskgit": "few-step sampling of token grids",
}


def fmt(value: Any, digits: int = 3) -> str:
    """Human-readable number: significant digits, SI suffix for large counts, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    v = float(value)
    if v != v:
        return "—"
    # (applies from, divisor, suffix): thousands get a suffix only from 10k on
    for threshold, divisor, suffix in (
        (1e12, 1e12, "T"),
        (1e9, 1e9, "G"),
        (1e6, 1e6, "M"),
        (1e4, 1e3, "k"),
    ):
        if abs(v) >= threshold:
            return f"{v / divisor:.{digits}g}{suffix}"
    if abs(v) >= 1e3:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _get(d: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _model(r: dict[str, Any]) -> str:
    """``"DiT-T/4 (rope=True), 1.87M params"``: the preset, what the run changed, the size."""
    changes = ", ".join(f"{k}={v}" for k, v in (r.get("model_overrides") or {}).items())
    name = f"{r.get('preset') or ''}{f' ({changes})' if changes else ''}"
    return f"{name + ', ' if name else ''}{fmt(r.get('params'))} params"


def _conditioning(f: str, r: dict[str, Any]) -> str:
    """How family ``f`` takes its class (the run's own options included) and the class accuracy
    it reached, with its interval and sample count."""
    text = CONDITIONING.get(f, "")
    if _get(r, "model_overrides", "class_adaln"):
        text += " + adaLN-Zero class modulation in every block"
    accuracy = _with_interval(r, ("quality", "cond_accuracy"))
    # the FID images (records written before ``samples`` was kept)
    n = _get(r, "quality", "samples") or _get(r, "quality", "fid_samples")
    return f"{text}; class accuracy {accuracy} @{fmt(n)}"


def comparison_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the classic table with measured numbers for each family in ``results``."""
    fams = list(results["families"])
    header = ["", *(FAMILY_TITLES.get(f, f) for f in fams)]
    rows: list[list[str]] = []

    def row(name: str, cell) -> None:
        rows.append([name, *(cell(f, results["families"][f]) for f in fams)])

    row("Architecture", lambda f, r: f"{ARCHITECTURE.get(f, '')}; {_model(r)}")
    row(
        "Generation process",
        lambda f, r: (
            f"{PROCESS.get(f, '')}; {fmt(_get(r, 'sampling', 'steps'))} steps "
            f"({_get(r, 'sampling', 'sampler') or 'ancestral'})"
        ),
    )
    row("Attention range", lambda f, r: ATTENTION.get(f, ""))
    row("Condition injection", _conditioning)
    row(
        "Training objective",
        lambda f, r: (
            f"{OBJECTIVE.get(f, '')}; {fmt(_get(r, 'nll', 'bits_per_dim'))} bits/dim "
            f"({_get(r, 'nll', 'kind') or 'n/a'})"
        ),
    )
    row(
        "Inference cost",
        lambda f, r: (
            f"{fmt(_get(r, 'cost', 'flops_per_sample'))}FLOP/image, "
            f"{fmt(_get(r, 'sampling', 'latency_s_per_image'))} s/image, "
            f"{fmt(_get(r, 'sampling', 'peak_memory_mb'))} MB peak tensors per batch"
        ),
    )
    row("Pretraining", lambda f, r: PRETRAINING.get(f, ""))
    row(
        "Best use (measured here)",
        lambda f, r: (
            f"{BEST_USE.get(f, '')}; FID {fmt(_get(r, 'quality', 'fid'))} "
            f"@{fmt(_get(r, 'quality', 'fid_samples'))}"
        ),
    )
    return header, rows


METRIC_COLUMNS = [
    ("family", None),
    ("params", ("params",)),
    ("train img/s", ("train", "images_per_second")),
    ("images seen", ("train", "images_seen")),
    ("batch", ("train", "batch_size")),
    ("FID [95 %]", ("quality", "fid")),
    ("FID samples", ("quality", "fid_samples")),
    ("KID ×1e3", ("quality", "kid_x1000")),
    ("precision", ("quality", "precision")),
    ("recall", ("quality", "recall")),
    ("domain FID", ("quality", "domain_fid")),
    ("class acc. [95 %]", ("quality", "cond_accuracy")),
    ("bits/dim", ("nll", "bits_per_dim")),
    ("NFE", ("sampling", "nfe")),
    ("s/image", ("sampling", "latency_s_per_image")),
    ("peak MB per batch", ("sampling", "peak_memory_mb")),
]


def _with_interval(record: dict[str, Any], path: tuple[str, ...]) -> str:
    """The value at ``path``, followed by its interval where the record keeps one
    (``<key>_low`` / ``<key>_high`` beside it)."""
    text = fmt(_get(record, *path))
    low = _get(record, *path[:-1], f"{path[-1]}_low")
    high = _get(record, *path[:-1], f"{path[-1]}_high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        text += f" [{fmt(low)}, {fmt(high)}]"
    return text


def metric_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per family with every headline metric."""
    header = [name for name, _ in METRIC_COLUMNS]
    rows = []
    for fam, r in results["families"].items():
        cells = [FAMILY_TITLES.get(fam, fam)]
        cells += [_with_interval(r, path) for _, path in METRIC_COLUMNS[1:]]
        rows.append(cells)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)
